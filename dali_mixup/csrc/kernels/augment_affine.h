// Pillow's Image.rotate / Image.transform(AFFINE) on uint8 HWC images: its transposes, its
// pixel-centre mapping in double and its bilinear and bicubic filters (Geometry.c), with the
// fill colour outside the source; eight pixels at a time with AVX2, lane by lane the same.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_AFFINE_H_
#define DALI_MIXUP_KERNELS_AUGMENT_AFFINE_H_

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "augment_common.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

// Image.transpose(ROTATE_90 / 180 / 270): the rotate shortcuts (90 and 270 on square images).
inline void Transpose(const uint8_t *src, uint8_t *dst, const Shape &s, int degrees) {
  const int h = s.h, w = s.w, c = s.c;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      int sy = h - 1 - y, sx = w - 1 - x;                  // 180
      if (degrees == 90) sy = x, sx = w - 1 - y;           // counter-clockwise
      if (degrees == 270) sy = h - 1 - x, sx = y;          // clockwise
      std::memcpy(dst + (static_cast<int64_t>(y) * w + x) * c, src + (static_cast<int64_t>(sy) * w + sx) * c, c);
    }
}

// Geometry.c's FLOOR.
inline int PilFloor(double v) { return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v); }

// Geometry.c's bilinear_filter at (xin, yin), already shifted by -0.5, in double as there.
inline void BilinearAt(const uint8_t *src, const Shape &s, double xin, double yin, uint8_t *out) {
  const int x = PilFloor(xin), y = PilFloor(yin);
  const double dx = xin - x, dy = yin - y;
  const int64_t c = s.c;
  const int64_t x0 = std::clamp(x, 0, s.w - 1) * c, x1 = std::clamp(x + 1, 0, s.w - 1) * c;
  const uint8_t *r0 = src + std::clamp(y, 0, s.h - 1) * s.w * c;
  const uint8_t *r1 = src + std::clamp(y + 1, 0, s.h - 1) * s.w * c;
  for (int b = 0; b < c; b++) {
    const double v1 = r0[x0 + b] + (r0[x1 + b] - r0[x0 + b]) * dx;
    const double v2 = r1[x0 + b] + (r1[x1 + b] - r1[x0 + b]) * dx;
    out[b] = static_cast<uint8_t>(v1 + (v2 - v1) * dy);
  }
}

// Geometry.c's BICUBIC for one axis (its a = -1 cubic), in double.
inline double Cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

// Geometry.c's bicubic_filter: rows beyond the image repeat the nearest one, as there.
inline void BicubicAt(const uint8_t *src, const Shape &s, double xin, double yin, uint8_t *out) {
  const int x = PilFloor(xin) - 1, y = PilFloor(yin) - 1;
  const double dx = xin - (x + 1), dy = yin - (y + 1);
  const int64_t c = s.c;
  int64_t xs[4];
  const uint8_t *rows[4];
  for (int k = 0; k < 4; k++) {
    xs[k] = std::clamp(x + k, 0, s.w - 1) * c;
    rows[k] = src + std::clamp(y + k, 0, s.h - 1) * s.w * c;
  }
  for (int b = 0; b < c; b++) {
    double v[4];
    for (int k = 0; k < 4; k++) {
      const uint8_t *r = rows[k] + b;
      v[k] = Cubic(r[xs[0]], r[xs[1]], r[xs[2]], r[xs[3]], dx);
    }
    const double r = Cubic(v[0], v[1], v[2], v[3], dy);
    out[b] = r <= 0.0 ? 0 : r >= 255.0 ? 255 : static_cast<uint8_t>(r);
  }
}

#if defined(__AVX2__)
// Eight doubles: one AVX-512 register or two AVX2 ones, IEEE operations lane by lane either way,
// so that each lane computes what the scalar code does.
struct D8 {
#if defined(__AVX512F__)
  __m512d v;
#else
  __m256d lo, hi;
#endif
};

#if defined(__AVX512F__)
// The zero-masked forms with every lane on: the same values, and GCC 12 does not warn about the
// plain forms' undefined pass-through operand.
inline constexpr __mmask8 kAll = 0xff;
inline D8 Set8(double x) { return {_mm512_set1_pd(x)}; }
inline D8 Load8(const double *p) { return {_mm512_loadu_pd(p)}; }
inline D8 operator+(D8 a, D8 b) { return {_mm512_add_pd(a.v, b.v)}; }
inline D8 operator-(D8 a, D8 b) { return {_mm512_sub_pd(a.v, b.v)}; }
inline D8 operator*(D8 a, D8 b) { return {_mm512_mul_pd(a.v, b.v)}; }
inline D8 Floor(D8 a) { return {_mm512_maskz_roundscale_pd(kAll, a.v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)}; }
inline D8 Clip255(D8 a) {
  return {_mm512_maskz_min_pd(kAll, _mm512_maskz_max_pd(kAll, a.v, _mm512_setzero_pd()), _mm512_set1_pd(255.0))};
}
inline D8 FromInts(__m256i v) { return {_mm512_maskz_cvtepi32_pd(kAll, v)}; }
inline __m256i Truncate(D8 a) { return _mm512_maskz_cvttpd_epi32(kAll, a.v); }
// Lanes with lo <= a < hi, as a bit mask.
inline int Within(D8 a, double lo, double hi) {
  return _mm512_cmp_pd_mask(a.v, _mm512_set1_pd(lo), _CMP_GE_OQ) &
         _mm512_cmp_pd_mask(a.v, _mm512_set1_pd(hi), _CMP_LT_OQ);
}
#else
inline D8 Set8(double x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
inline D8 Load8(const double *p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
inline D8 operator+(D8 a, D8 b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
inline D8 operator-(D8 a, D8 b) { return {_mm256_sub_pd(a.lo, b.lo), _mm256_sub_pd(a.hi, b.hi)}; }
inline D8 operator*(D8 a, D8 b) { return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)}; }
inline D8 Floor(D8 a) { return {_mm256_floor_pd(a.lo), _mm256_floor_pd(a.hi)}; }
inline D8 Clip255(D8 a) {
  const __m256d zero = _mm256_setzero_pd(), top = _mm256_set1_pd(255.0);
  return {_mm256_min_pd(_mm256_max_pd(a.lo, zero), top), _mm256_min_pd(_mm256_max_pd(a.hi, zero), top)};
}
inline D8 FromInts(__m256i v) {
  return {_mm256_cvtepi32_pd(_mm256_castsi256_si128(v)), _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1))};
}
inline __m256i Truncate(D8 a) { return _mm256_set_m128i(_mm256_cvttpd_epi32(a.hi), _mm256_cvttpd_epi32(a.lo)); }
inline int Within(D8 a, double lo, double hi) {
  const __m256d l = _mm256_set1_pd(lo), h = _mm256_set1_pd(hi);
  auto half = [&](__m256d v) {
    return _mm256_movemask_pd(_mm256_and_pd(_mm256_cmp_pd(v, l, _CMP_GE_OQ), _mm256_cmp_pd(v, h, _CMP_LT_OQ)));
  };
  return half(a.lo) | half(a.hi) << 4;
}
#endif

inline __m256i Clamp(__m256i v, __m256i hi) {
  return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_setzero_si256()), hi);
}

// Geometry.c's BICUBIC on ints: its p's exact in int32, then the polynomial in double as there.
inline D8 CubicInts(__m256i v1, __m256i v2, __m256i v3, __m256i v4, D8 d) {
  const __m256i p2 = _mm256_sub_epi32(v3, v1);
  const __m256i p3 = _mm256_sub_epi32(_mm256_add_epi32(_mm256_slli_epi32(_mm256_sub_epi32(v1, v2), 1), v3), v4);
  const __m256i p4 = _mm256_add_epi32(_mm256_sub_epi32(_mm256_sub_epi32(v2, v1), v3), v4);
  return FromInts(v2) + d * (FromInts(p2) + d * (FromInts(p3) + d * FromInts(p4)));
}

// The same on doubles, in Geometry.c's order of operations.
inline D8 CubicDoubles(D8 v1, D8 v2, D8 v3, D8 v4, D8 d) {
  const D8 zero = Set8(0.0);
  const D8 p2 = (zero - v1) + v3, p3 = ((Set8(2.0) * (v1 - v2)) + v3) - v4, p4 = (((zero - v1) + v2) - v3) + v4;
  return v2 + d * (p2 + d * (p3 + d * p4));
}

// Eight output pixels whose centres all map inside the source, from their source coordinates
// (already shifted by -0.5), as BilinearAt / BicubicAt compute them, lane by lane. Returns false
// (nothing written) where a 4-byte gather would read past the image: the caller does those.
inline bool AffineLanes(const uint8_t *src, const Shape &s, D8 xin, D8 yin, Resample resample, uint8_t *out) {
  const D8 fx = Floor(xin), fy = Floor(yin), dx = xin - fx, dy = yin - fy;
  const __m256i ix = Truncate(fx), iy = Truncate(fy);
  const bool cubic = resample == Resample::kBicubic;
  const int taps = cubic ? 4 : 2, first = cubic ? -1 : 0;
  const __m256i wmax = _mm256_set1_epi32(s.w - 1), hmax = _mm256_set1_epi32(s.h - 1);
  const __m256i c = _mm256_set1_epi32(s.c), stride = _mm256_set1_epi32(s.w * s.c);
  __m256i cols[4], rows[4];
  for (int k = 0; k < taps; k++) {
    cols[k] = _mm256_mullo_epi32(Clamp(_mm256_add_epi32(ix, _mm256_set1_epi32(first + k)), wmax), c);
    rows[k] = _mm256_mullo_epi32(Clamp(_mm256_add_epi32(iy, _mm256_set1_epi32(first + k)), hmax), stride);
  }
  // The last tap row and column are the largest offsets.
  const __m256i last = _mm256_add_epi32(rows[taps - 1], cols[taps - 1]);
  const __m256i limit = _mm256_set1_epi32(static_cast<int>(s.Bytes() - 4));
  if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(last, limit))) return false;
  __m256i g[4][4];
  for (int r = 0; r < taps; r++)
    for (int k = 0; k < taps; k++)
      g[r][k] = _mm256_i32gather_epi32(reinterpret_cast<const int *>(src), _mm256_add_epi32(rows[r], cols[k]), 1);
  alignas(32) int32_t result[3][8];
  const __m256i byte = _mm256_set1_epi32(0xff);
  for (int b = 0; b < s.c; b++) {
    __m256i v[4][4];
    for (int r = 0; r < taps; r++)
      for (int k = 0; k < taps; k++) v[r][k] = _mm256_and_si256(_mm256_srli_epi32(g[r][k], 8 * b), byte);
    D8 res;
    if (cubic) {
      D8 h[4];
      for (int r = 0; r < 4; r++) h[r] = CubicInts(v[r][0], v[r][1], v[r][2], v[r][3], dx);
      res = Clip255(CubicDoubles(h[0], h[1], h[2], h[3], dy));
    } else {
      const D8 v1 = FromInts(v[0][0]) + FromInts(_mm256_sub_epi32(v[0][1], v[0][0])) * dx;
      const D8 v2 = FromInts(v[1][0]) + FromInts(_mm256_sub_epi32(v[1][1], v[1][0])) * dx;
      res = v1 + (v2 - v1) * dy;
    }
    _mm256_store_si256(reinterpret_cast<__m256i *>(result[b]), Truncate(res));
  }
  for (int lane = 0; lane < 8; lane++)
    for (int b = 0; b < s.c; b++) out[lane * s.c + b] = static_cast<uint8_t>(result[b][lane]);
  return true;
}
#endif

// One output pixel at source (xin, yin), unshifted: the fill outside the source.
inline void AffinePixel(const uint8_t *src, const Shape &s, double xin, double yin, Resample resample,
                        const uint8_t *fill, uint8_t *out) {
  if (xin < 0.0 || xin >= s.w || yin < 0.0 || yin >= s.h)
    std::memcpy(out, fill, s.c);
  else if (resample == Resample::kBicubic)
    BicubicAt(src, s, xin - 0.5, yin - 0.5, out);
  else
    BilinearAt(src, s, xin - 0.5, yin - 0.5, out);
}

// Image.transform(size, AFFINE, matrix, resample, fillcolor): each output pixel centre mapped
// through the matrix in double, exactly as affine_transform does (a0*x + a1*y + a2, the
// products precomputed per column and row); outside the source: the fill colour. With AVX2,
// eight pixels at a time where all eight fall inside, the same arithmetic lane by lane.
inline void Affine(const uint8_t *src, uint8_t *dst, const Shape &s, const double *a, Resample resample,
                   const uint8_t *fill, Scratch &scratch) {
  auto &ax = scratch.col_a0, &dx = scratch.col_a3;
  ax.resize(s.w), dx.resize(s.w);
  for (int x = 0; x < s.w; x++) ax[x] = a[0] * (x + 0.5), dx[x] = a[3] * (x + 0.5);
  const int c = s.c;
#if defined(__AVX2__)
  const bool lanes = s.Bytes() < (int64_t{1} << 31) - 16;  // int32 gather offsets
#endif
  for (int y = 0; y < s.h; y++) {
    const double by = a[1] * (y + 0.5), ey = a[4] * (y + 0.5);
    uint8_t *out = dst + static_cast<int64_t>(y) * s.w * c;
    int x = 0;
#if defined(__AVX2__)
    for (; lanes && x + 8 <= s.w; x += 8) {
      const D8 xin = (Load8(&ax[x]) + Set8(by)) + Set8(a[2]), yin = (Load8(&dx[x]) + Set8(ey)) + Set8(a[5]);
      const bool inside = (Within(xin, 0.0, s.w) & Within(yin, 0.0, s.h)) == 0xff;
      if (inside && AffineLanes(src, s, xin - Set8(0.5), yin - Set8(0.5), resample, out + x * c)) continue;
      for (int k = x; k < x + 8; k++)
        AffinePixel(src, s, ax[k] + by + a[2], dx[k] + ey + a[5], resample, fill, out + k * c);
    }
#endif
    for (; x < s.w; x++) AffinePixel(src, s, ax[x] + by + a[2], dx[x] + ey + a[5], resample, fill, out + x * c);
  }
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_AFFINE_H_
