# Set-up is one idempotent chain: .venv -> build tools -> package (with the compiled
# kernel) -> job. Every target re-installs only when a source it depends on changed.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.coverage-net-installed
DEM_DIR ?= ../shared/data
PYTEST_ARGS ?=

SOURCES := pyproject.toml setup.py $(wildcard ext/*.pyx ext/*.pxd ext/*.pxi)

.PHONY: all install demo test bench lint clean

all: install

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=/path/to/python3.11'"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python $(SOURCES)
	$(BIN)/pip install --quiet "setuptools==80.9.0" "wheel==0.48.0" "Cython==3.3.1"
	$(BIN)/pip install --quiet --no-build-isolation -e ".[dev]"
	$(BIN)/python -c "import coverage_net.radio.propagation as p; print('kernel built:', p.kernel_info())"
	touch $(STAMP)

install: $(STAMP)

# The whole network on this machine: radio simulator, 4 validators, a router, hotspots;
# ends with the rewards table and the coverage map. The DEM tile's area is used when
# DEM_DIR holds one, else the embedded default area.
DEMO_OUT      ?= demo-out
DEMO_HOTSPOTS ?= 10
DEMO_EPOCHS   ?= 3
DEMO_EPOCH_S  ?= 20

demo: install
	rm -rf $(DEMO_OUT)
	$(BIN)/coverage-net testnet --hotspots $(DEMO_HOTSPOTS) --validators 4 \
		--epochs $(DEMO_EPOCHS) --epoch-s $(DEMO_EPOCH_S) --seed 1 --out $(DEMO_OUT) \
		$(if $(wildcard $(DEM_DIR)/*.hgt),--dem $(DEM_DIR))

# Two parts: the tests that only compute run on every core (pytest-xdist, one module per
# worker); then the ones marked `serial` (real processes held to wall-clock deadlines,
# CPU and rate measurements) run alone. Both parts always run; exit 5 (nothing selected
# in one part, e.g. with PYTEST_ARGS=tests/one_file.py) is not a failure unless both are.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)

test: install
	@status=0; selected=0; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS); \
	rc=$$?; [ $$rc = 5 ] || { selected=1; [ $$rc = 0 ] || status=$$rc; }; \
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS); \
	rc=$$?; [ $$rc = 5 ] || { selected=1; [ $$rc = 0 ] || status=$$rc; }; \
	[ $$selected = 1 ] || { echo "make test: no test selected"; exit 5; }; \
	exit $$status

bench: install
	$(BIN)/python bench/pathloss.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf build $(VENV) coverage_net/*/*.so ext/*.c out $(DEMO_OUT) .pytest_cache .hypothesis
