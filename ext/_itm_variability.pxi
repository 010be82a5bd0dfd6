# ITM's variability (Hufford's avar): the climate curves of NBS TN101 and the
# time / location / situation quantiles; included by ext/itm.pyx after `Path` and
# `warn`, mirroring coverage_net/radio/_itm_climate.py.

cdef double BV1[7]
cdef double BV2[7]
cdef double XV1[7]
cdef double XV2[7]
cdef double XV3[7]
cdef double BSM1[7]
cdef double BSM2[7]
cdef double XSM1[7]
cdef double XSM2[7]
cdef double XSM3[7]
cdef double BSP1[7]
cdef double BSP2[7]
cdef double XSP1[7]
cdef double XSP2[7]
cdef double XSP3[7]
cdef double BSD1[7]
cdef double BZD1[7]
cdef double BFM1[7]
cdef double BFM2[7]
cdef double BFM3[7]
cdef double BFP1[7]
cdef double BFP2[7]
cdef double BFP3[7]
BV1[:] = [-9.67, -0.62, 1.26, -9.21, -0.62, -0.39, 3.15]
BV2[:] = [12.7, 9.19, 15.5, 9.05, 9.19, 2.86, 857.9]
XV1[:] = [144.9e3, 228.9e3, 262.6e3, 84.1e3, 228.9e3, 141.7e3, 2222.e3]
XV2[:] = [190.3e3, 205.2e3, 185.2e3, 101.1e3, 205.2e3, 315.9e3, 164.8e3]
XV3[:] = [133.8e3, 143.6e3, 99.8e3, 98.6e3, 143.6e3, 167.4e3, 116.3e3]
BSM1[:] = [2.13, 2.66, 6.11, 1.98, 2.68, 6.86, 8.51]
BSM2[:] = [159.5, 7.67, 6.65, 13.11, 7.16, 10.38, 169.8]
XSM1[:] = [762.2e3, 100.4e3, 138.2e3, 139.1e3, 93.7e3, 187.8e3, 609.8e3]
XSM2[:] = [123.6e3, 172.5e3, 242.2e3, 132.7e3, 186.8e3, 169.6e3, 119.9e3]
XSM3[:] = [94.5e3, 136.4e3, 178.6e3, 193.5e3, 133.5e3, 108.9e3, 106.6e3]
BSP1[:] = [2.11, 6.87, 10.08, 3.68, 4.75, 8.58, 8.43]
BSP2[:] = [102.3, 15.53, 9.60, 159.3, 8.12, 13.97, 8.19]
XSP1[:] = [636.9e3, 138.7e3, 165.3e3, 464.4e3, 93.2e3, 216.0e3, 136.2e3]
XSP2[:] = [134.8e3, 143.7e3, 225.7e3, 93.1e3, 135.9e3, 152.0e3, 188.5e3]
XSP3[:] = [95.6e3, 98.6e3, 129.7e3, 94.2e3, 113.4e3, 122.7e3, 122.9e3]
BSD1[:] = [1.224, 0.801, 1.380, 1.000, 1.224, 1.518, 1.518]
BZD1[:] = [1.282, 2.161, 1.282, 20., 1.282, 1.282, 1.282]
BFM1[:] = [1., 1., 1., 1., 0.92, 1., 1.]
BFM2[:] = [0., 0., 0., 0., 0.25, 0., 0.]
BFM3[:] = [0., 0., 0., 0., 1.77, 0., 0.]
BFP1[:] = [1., 0.93, 1., 0.93, 0.93, 1., 1.]
BFP2[:] = [0., 0.31, 0., 0.19, 0.31, 0., 0.]
BFP3[:] = [0., 2.00, 0., 1.79, 2.00, 0., 0.]


cdef inline double curve(double c1, double c2, double x1, double x2, double x3,
                         double de) noexcept nogil:
    cdef double u = (de - x2) / x3
    cdef double v = de / x1
    return (c1 + c2 / (1.0 + u * u)) * (v * v) / (1.0 + v * v)


cdef double variability_db(Path* p, int climate, int mdvar, double zt, double zl,
                           double zc) noexcept nogil:
    cdef int k = climate - 1
    cdef int kdv = mdvar
    cdef bint no_situation = kdv >= 20
    cdef bint no_location
    cdef double q, gm, gp, dexa, de, vmd, sgtm, sgtp, sgtd, zd, tgtd, sgl, vs0, sgt, vs
    cdef double yr, sgc, a
    if no_situation:
        kdv -= 20
    no_location = kdv >= 10
    if no_location:
        kdv -= 10
    q = log(0.133 * p.wn)
    gm = BFM1[k] + BFM2[k] / ((BFM3[k] * q) * (BFM3[k] * q) + 1.0)
    gp = BFP1[k] + BFP2[k] / ((BFP3[k] * q) * (BFP3[k] * q) + 1.0)
    dexa = sqrt(18e6 * p.he[0]) + sqrt(18e6 * p.he[1]) + pow(575.7e12 / p.wn, THIRD)
    if p.dist < dexa:
        de = 130e3 * p.dist / dexa
    else:
        de = 130e3 + p.dist - dexa
    vmd = curve(BV1[k], BV2[k], XV1[k], XV2[k], XV3[k], de)
    sgtm = curve(BSM1[k], BSM2[k], XSM1[k], XSM2[k], XSM3[k], de) * gm
    sgtp = curve(BSP1[k], BSP2[k], XSP1[k], XSP2[k], XSP3[k], de) * gp
    sgtd = sgtp * BSD1[k]
    zd = BZD1[k]
    tgtd = (sgtp - sgtd) * zd
    if no_location:
        sgl = 0.0
    else:
        q = (1.0 - 0.8 * exp(-p.dist / 50e3)) * p.dh * p.wn
        sgl = 10.0 * q / (q + 13.0)
    if no_situation:
        vs0 = 0.0
    else:
        vs0 = 5.0 + 3.0 * exp(-de / 100e3)
        vs0 = vs0 * vs0
    if kdv == 0:
        zt = zc
        zl = zc
    elif kdv == 1:
        zl = zc
    elif kdv == 2:
        zl = zt
    if fabs(zt) > 3.1 or fabs(zl) > 3.1 or fabs(zc) > 3.1:
        warn(p, 1)
    if zt < 0.0:
        sgt = sgtm
    elif zt <= zd:
        sgt = sgtp
    else:
        sgt = sgtd + tgtd / zt
    vs = vs0 + (sgt * zt) * (sgt * zt) / (7.8 + zc * zc) + (sgl * zl) * (sgl * zl) / (24.0 + zc * zc)
    if kdv == 0:
        yr = 0.0
        sgc = sqrt(sgt * sgt + sgl * sgl + vs)
    elif kdv == 1:
        yr = sgt * zt
        sgc = sqrt(sgl * sgl + vs)
    elif kdv == 2:
        yr = sqrt(sgt * sgt + sgl * sgl) * zt
        sgc = sqrt(vs)
    else:
        yr = sgt * zt + sgl * zl
        sgc = sqrt(vs)
    a = p.aref - vmd - yr - sgc * zc
    if a < 0.0:
        a = a * (29.0 - a) / (29.0 - 10.0 * a)
    return a
