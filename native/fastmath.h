/* expf and tanhf that GCC vectorizes inside VECTOR_CLONES loops (glibc's are scalar calls): Cephes's expf
 * (Cody–Waite reduction, degree-5 polynomial, within 2 ulp of the exact value), and tanh from it. Plain float
 * arithmetic and no fused multiply-adds (-ffp-contract=off), so every clone gives the same bits. */
#ifndef TSDISTILL_FASTMATH_H
#define TSDISTILL_FASTMATH_H
#include <stdint.h>
#include <string.h>

/* e^x; 0 below −87.34 (where e^x is no longer a normal float), +inf above 88.38. Written without branches so the
 * loops around it vectorize. */
static inline float fast_expf(float x) {
  const float hi = 88.3762626647949f, lo = -87.3365478515625f;
  float xc = x > hi ? hi : x;
  xc = xc < lo ? lo : xc;
  /* n = round(x·log2 e) by the 1.5·2^23 trick (|x·log2 e| < 128) */
  const float fn = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = xc - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * (r * r) + r + 1.0f;
  const int32_t bits = (int32_t)(((uint32_t)(int32_t)fn + 127u) << 23);
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  const float e = y * scale;
  return x < lo ? 0.0f : e;
}

/* tanh(u) = 1 − 2/(e^{2u} + 1): exact ±1 in the tails, absolute error a few 1e-8 near 0. */
static inline float fast_tanhf(float u) {
  return 1.0f - 2.0f / (fast_expf(2.0f * u) + 1.0f);
}
#endif
