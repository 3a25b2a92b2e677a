// Point and histogram ops on uint8 HWC images as Pillow computes them: LUTs (invert,
// posterize, solarize, timm's solarize_add, brightness), ImageOps.autocontrast and equalize.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_POINT_H_
#define DALI_MIXUP_KERNELS_AUGMENT_POINT_H_

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "augment_common.h"
#include "augment_params.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

#if defined(__AVX512VBMI__) && defined(__AVX512BW__)
// 64 lookups in a 256-entry table held in four registers (VBMI's two-table byte permute).
inline __m512i Lookup(__m512i idx, const __m512i *t) {
  const __m512i lo = _mm512_permutex2var_epi8(t[0], idx, t[1]), hi = _mm512_permutex2var_epi8(t[2], idx, t[3]);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), lo, hi);
}

// The bytes of band `band` of 3 in the 64-byte chunk `chunk` of a 192-byte block.
inline __mmask64 BandMask(int chunk, int band) {
  __mmask64 m = 0;
  for (int p = 0; p < 64; p++)
    if ((64 * chunk + p) % 3 == band) m |= __mmask64{1} << p;
  return m;
}

// Whole 192-byte blocks through the band's LUTs (one LUT: bands == 1); returns the bytes done.
inline int64_t LutBlocks(const uint8_t *src, uint8_t *dst, int64_t n, const Lut *luts, int bands) {
  __m512i t[3][4];
  for (int b = 0; b < bands; b++)
    for (int k = 0; k < 4; k++) t[b][k] = _mm512_loadu_si512(luts[b].data() + 64 * k);
  __mmask64 masks[3][3];
  for (int chunk = 0; chunk < 3; chunk++)
    for (int b = 0; b < 3; b++) masks[chunk][b] = BandMask(chunk, b);
  int64_t i = 0;
  for (; i + 192 <= n; i += 192)
    for (int chunk = 0; chunk < 3; chunk++) {
      const __m512i idx = _mm512_loadu_si512(src + i + 64 * chunk);
      __m512i r = Lookup(idx, t[0]);
      for (int b = 1; b < bands; b++) r = _mm512_mask_blend_epi8(masks[chunk][b], r, Lookup(idx, t[b]));
      _mm512_storeu_si512(dst + i + 64 * chunk, r);
    }
  return i;
}
#else
inline int64_t LutBlocks(const uint8_t *, uint8_t *, int64_t, const Lut *, int) { return 0; }
#endif

// One LUT per band (luts[0] for every band when shared).
inline void ApplyLuts(const uint8_t *src, uint8_t *dst, const Shape &s, const Lut *luts, bool shared) {
  const int64_t n = s.Bytes();
  if (shared || s.c == 1) {
    const uint8_t *lut = luts[0].data();
    for (int64_t i = LutBlocks(src, dst, n, luts, 1); i < n; i++) dst[i] = lut[src[i]];
    return;
  }
  const uint8_t *l0 = luts[0].data(), *l1 = luts[1].data(), *l2 = luts[2].data();
  for (int64_t i = LutBlocks(src, dst, n, luts, 3); i < n; i += 3) {
    dst[i] = l0[src[i]];
    dst[i + 1] = l1[src[i + 1]];
    dst[i + 2] = l2[src[i + 2]];
  }
}

inline void ApplyLut(const uint8_t *src, uint8_t *dst, const Shape &s, const Lut &lut) {
  ApplyLuts(src, dst, s, &lut, true);
}

// Per-band histograms (up to 3 bands); two tables per band, even and odd pixels, break the
// store-to-load chains of runs of equal values.
inline void Histograms(const uint8_t *src, const Shape &s, std::array<std::array<int64_t, 256>, 3> &hist) {
  std::vector<uint32_t> tables(6 * 256, 0);
  uint32_t *t = tables.data();
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  int64_t p = 0;
  if (s.c == 3) {
    for (; p + 2 <= pixels; p += 2) {
      const uint8_t *q = src + 3 * p;
      t[q[0]]++, t[256 + q[1]]++, t[512 + q[2]]++;
      t[768 + q[3]]++, t[1024 + q[4]]++, t[1280 + q[5]]++;
    }
  } else {
    for (; p + 2 <= pixels; p += 2) t[src[p]]++, t[768 + src[p + 1]]++;
  }
  for (; p < pixels; p++)
    for (int b = 0; b < s.c; b++) t[256 * b + src[p * s.c + b]]++;
  for (int b = 0; b < s.c; b++)
    for (int v = 0; v < 256; v++) hist[b][v] = int64_t{t[256 * b + v]} + t[768 + 256 * b + v];
}

// ImageOps.autocontrast(cutoff=0) for one band.
inline Lut AutoContrastLut(const std::array<int64_t, 256> &h) {
  Lut lut;
  int lo = 0, hi = 255;
  while (lo < 255 && !h[lo]) lo++;
  while (hi > 0 && !h[hi]) hi--;
  for (int i = 0; i < 256; i++) lut[i] = static_cast<uint8_t>(i);
  if (hi <= lo) return lut;
  const double scale = 255.0 / (hi - lo), offset = -lo * scale;
  for (int i = 0; i < 256; i++) {
    const int v = static_cast<int>(i * scale + offset);
    lut[i] = static_cast<uint8_t>(std::clamp(v, 0, 255));
  }
  return lut;
}

// ImageOps.equalize for one band.
inline Lut EqualizeLut(const std::array<int64_t, 256> &h) {
  Lut lut;
  for (int i = 0; i < 256; i++) lut[i] = static_cast<uint8_t>(i);
  int64_t total = 0, last = 0, used = 0;
  for (int i = 0; i < 256; i++)
    if (h[i]) total += h[i], last = h[i], used++;
  if (used <= 1) return lut;
  const int64_t step = (total - last) / 255;
  if (!step) return lut;
  int64_t n = step / 2;
  for (int i = 0; i < 256; i++) {
    lut[i] = Clip8(static_cast<double>(n / step));
    n += h[i];
  }
  return lut;
}

inline void HistogramLuts(const uint8_t *src, uint8_t *dst, const Shape &s, bool equalize) {
  std::array<std::array<int64_t, 256>, 3> hist;
  Histograms(src, s, hist);
  Lut luts[3];
  for (int b = 0; b < s.c; b++) luts[b] = equalize ? EqualizeLut(hist[b]) : AutoContrastLut(hist[b]);
  ApplyLuts(src, dst, s, luts, false);
}

// Point ops: invert, posterize, solarize, timm's solarize_add, brightness.
inline Lut PointLut(Kind kind, double value) {
  Lut lut;
  for (int i = 0; i < 256; i++) {
    double v = i;
    switch (kind) {
      case Kind::kInvert: v = 255 - i; break;
      case Kind::kPosterize:  // timm: >= 8 bits keeps all; Pillow's mask for fewer (none below 1)
        if (value < 8) v = value < 1 ? 0 : (i & ~((1 << (8 - static_cast<int>(value))) - 1));
        break;
      case Kind::kSolarize: v = i < value ? i : 255 - i; break;
      case Kind::kSolarizeAdd: v = i < 128 ? std::min(255.0, i + value) : i; break;
      case Kind::kBrightness: v = Blend(0, i, static_cast<float>(value)); break;
      default: break;
    }
    lut[i] = Clip8(v);
  }
  return lut;
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_POINT_H_
