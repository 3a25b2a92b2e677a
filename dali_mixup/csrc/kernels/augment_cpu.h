// RandAugment / AutoAugment pixel operations on one uint8 HWC image (1 channel: Pillow's "L",
// 3: "RGB") on the CPU, as Pillow 13 computes them (ImageOps, ImageEnhance, Image.rotate and
// Image.transform; libImaging's Blend.c, Filter.c, Convert.c, Geometry.c), and torchvision's
// adjust_hue on PIL images. Parameters come from augment_params.h.
//
// Knows nothing of DALI: plain pointers, a shape and a scratch of the caller's.
#ifndef DALI_MIXUP_KERNELS_AUGMENT_CPU_H_
#define DALI_MIXUP_KERNELS_AUGMENT_CPU_H_

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "augment_params.h"

namespace dali_mixup {
namespace kernels {
namespace augment {

struct Shape {
  int h, w, c;
  int64_t Bytes() const { return static_cast<int64_t>(h) * w * c; }
};

enum class Resample : int { kBilinear = 0, kBicubic = 1 };

// Buffers of one pool thread, reused from image to image.
struct Scratch {
  std::vector<uint8_t> ping, pong;   // between ops
  std::vector<double> col_a0, col_a3;  // the affine matrix's a0 * x and a3 * x per column
};

using Lut = std::array<uint8_t, 256>;

// Python's round(v, 15): the correctly rounded decimal text, read back.
inline double Round15(double v) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.15f", v);
  return std::strtod(text, nullptr);
}

// Pillow's point(): LUT entries clipped to uint8.
inline uint8_t Clip8(double v) { return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255); }

// Clipped to [0, 255] and truncated, as Blend.c and Filter.c's clip8 store; branch-free, so
// that the loops vectorize.
inline uint8_t Sat8(float v) { return static_cast<uint8_t>(static_cast<int>(std::min(std::max(v, 0.0f), 255.0f))); }

// Image.blend(in1, in2, alpha) for one value: Blend.c in float.
inline uint8_t Blend(int in1, int in2, float alpha) {
  return Sat8(static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1));
}

// Pillow's RGB -> L.
inline int Luma(const uint8_t *rgb) { return (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16; }

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

// ImageEnhance.Contrast: blend with the L image's mean grey, int(mean + 0.5).
inline void Contrast(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  int64_t sum = 0;
  if (s.c == 3) {
    for (int64_t p = 0; p < pixels; p++) sum += Luma(src + 3 * p);
  } else {
    for (int64_t p = 0; p < pixels; p++) sum += src[p];
  }
  const int mean = static_cast<int>(static_cast<double>(sum) / static_cast<double>(pixels) + 0.5);
  Lut lut;
  for (int i = 0; i < 256; i++) lut[i] = Blend(mean, i, alpha);
  ApplyLut(src, dst, s, lut);
}

// ImageEnhance.Color: blend with the image through L and back (L images: unchanged).
inline void Color(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  if (s.c != 3) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  for (int64_t p = 0; p < pixels; p++) {
    const uint8_t *in = src + 3 * p;
    const float grey = static_cast<float>(Luma(in));
    for (int b = 0; b < 3; b++) {
      dst[3 * p + b] = Sat8(grey + alpha * (static_cast<float>(in[b]) - grey));
    }
  }
}

#if defined(__AVX2__)
inline __m256 Floats8(const uint8_t *p) {
  return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(p))));
}

inline __m256i Sat8x8(__m256 v) {
  return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(255.0f)));
}

// KERNEL1x3 of Filter.c on eight neighbouring values.
inline __m256 Kernel3(const uint8_t *p, int step, __m256 k0, __m256 k1) {
  return _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(Floats8(p - step), k0), _mm256_mul_ps(Floats8(p), k1)),
                       _mm256_mul_ps(Floats8(p + step), k0));
}
#endif

// ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (Filter.c's 3x3 float kernel; the
// border rows and columns, and images under 3x3, keep their pixels, so blend to themselves).
inline void Sharpness(const uint8_t *src, uint8_t *dst, const Shape &s, float alpha) {
  std::memcpy(dst, src, s.Bytes());
  if (s.h < 3 || s.w < 3) return;
  const float k = 1.0f / 13.0f, k5 = 5.0f / 13.0f;
  const int c = s.c;
  const int64_t stride = static_cast<int64_t>(s.w) * c;
  for (int y = 1; y < s.h - 1; y++) {
    const uint8_t *up = src + (y - 1) * stride, *mid = src + y * stride, *down = src + (y + 1) * stride;
    uint8_t *out = dst + y * stride;
    int64_t j = c;
#if defined(__AVX2__)
    const __m256 vk = _mm256_set1_ps(k), vk5 = _mm256_set1_ps(k5), va = _mm256_set1_ps(alpha);
    for (; j + 8 + c <= stride; j += 8) {
      __m256 ss = _mm256_add_ps(_mm256_set1_ps(0.5f), Kernel3(down + j, c, vk, vk));
      ss = _mm256_add_ps(ss, Kernel3(mid + j, c, vk, vk5));
      ss = _mm256_add_ps(ss, Kernel3(up + j, c, vk, vk));
      const __m256 smooth = _mm256_cvtepi32_ps(Sat8x8(ss));
      const __m256i v = Sat8x8(_mm256_add_ps(smooth, _mm256_mul_ps(va, _mm256_sub_ps(Floats8(mid + j), smooth))));
      const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i *>(out + j), _mm_packus_epi16(words, words));
    }
#endif
    for (; j < stride - c; j++) {
      float ss = 0.5f;  // Filter.c's rounding offset, its order: the row below first
      ss += static_cast<float>(down[j - c]) * k + static_cast<float>(down[j]) * k + static_cast<float>(down[j + c]) * k;
      ss += static_cast<float>(mid[j - c]) * k + static_cast<float>(mid[j]) * k5 + static_cast<float>(mid[j + c]) * k;
      ss += static_cast<float>(up[j - c]) * k + static_cast<float>(up[j]) * k + static_cast<float>(up[j + c]) * k;
      const float smooth = Sat8(ss);
      out[j] = Sat8(smooth + alpha * (static_cast<float>(mid[j]) - smooth));
    }
  }
}

inline uint8_t ClipInt8(int v) { return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255); }

// Convert.c's divisions, by the values they divide, computed once per process: the per-pixel
// conversions below then only look them up.
struct HsvTables {
  std::vector<float> quotient;   // [d * 256 + cr]: (float)d / (float)cr, d <= cr (rgb2hsv's rc, gc, bc)
  std::vector<uint8_t> sat;      // [cr * 256 + maxc]: rgb2hsv's saturation byte
  uint8_t sector[256];           // hsv2rgb's i % 6 per hue byte
  float frac[256], fs[256];      // hsv2rgb's f per hue byte, fs per saturation byte
  HsvTables() : quotient(256 * 256), sat(256 * 256) {
    for (int cr = 1; cr < 256; cr++) {
      for (int d = 0; d <= cr; d++) quotient[d * 256 + cr] = static_cast<float>(d) / static_cast<float>(cr);
      for (int maxc = cr; maxc < 256; maxc++)
        sat[cr * 256 + maxc] =
            ClipInt8(static_cast<int>((static_cast<float>(cr) / static_cast<float>(maxc)) * 255.0));
    }
    for (int v = 0; v < 256; v++) {
      const double h6 = static_cast<float>(v) * 6.0 / 255.0;
      const int i = static_cast<int>(std::floor(h6));
      sector[v] = static_cast<uint8_t>(i % 6);
      frac[v] = static_cast<float>(h6 - static_cast<float>(i));
      fs[v] = static_cast<float>(static_cast<float>(v) / 255.0);
    }
  }
};

inline const HsvTables &Tables() {
  static const HsvTables tables;
  return tables;
}

// Convert.c's rgb2hsv_row (float and double as written there).
inline void RgbToHsv(const uint8_t *in, uint8_t *out, const HsvTables &t) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  out[2] = maxc;
  if (minc == maxc) {
    out[0] = out[1] = 0;
    return;
  }
  const int cr = maxc - minc;
  const float *q = &t.quotient[cr];
  const float rc = q[(maxc - r) * 256], gc = q[(maxc - g) * 256], bc = q[(maxc - b) * 256];
  float h;
  if (r == maxc)
    h = bc - gc;
  else if (g == maxc)
    h = static_cast<float>(2.0 + rc - bc);
  else
    h = static_cast<float>(4.0 + gc - rc);
  // fmod(x, 1.0) for x = h / 6 + 1 in (0.8, 1.9): x - 1 is exact there, and no library call.
  const double x = h / 6.0 + 1.0;
  h = static_cast<float>(x >= 1.0 ? x - 1.0 : x);
  out[0] = ClipInt8(static_cast<int>(h * 255.0));
  out[1] = t.sat[cr * 256 + maxc];
}

// C's round() (halves away from zero) for x >= 0, inline: x - floor(x) is exact.
inline int RoundPositive(double x) {
  const double r = std::floor(x);
  return static_cast<int>(x - r >= 0.5 ? r + 1.0 : r);
}

// Convert.c's hsv2rgb.
inline void HsvToRgb(const uint8_t *in, uint8_t *out, const HsvTables &tables) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const float f = tables.frac[h], fs = tables.fs[s];
  const uint8_t p = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs)));
  const uint8_t q = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs * f)));
  const uint8_t t = ClipInt8(RoundPositive(static_cast<float>(v) * (1.0 - fs * (1.0 - f))));
  const uint8_t rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  std::memcpy(out, rgb[tables.sector[h]], 3);
}

// torchvision's adjust_hue on a PIL image: H + uint8(int32(factor * 255)), wrapping.
inline void Hue(const uint8_t *src, uint8_t *dst, const Shape &s, double factor) {
  if (s.c != 3) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  const HsvTables &tables = Tables();
  const uint8_t shift = static_cast<uint8_t>(static_cast<int32_t>(factor * 255));
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  for (int64_t p = 0; p < pixels; p++) {
    uint8_t hsv[3];
    RgbToHsv(src + 3 * p, hsv, tables);
    hsv[0] = static_cast<uint8_t>(hsv[0] + shift);
    HsvToRgb(hsv, dst + 3 * p, tables);
  }
}

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

// One op from src to dst (distinct buffers of s.Bytes()).
inline void RunOp(const OpParams &p, const uint8_t *src, uint8_t *dst, const Shape &s, Resample resample,
                  const uint8_t *fill, Scratch &scratch) {
  const float alpha = static_cast<float>(p.value);  // Blend.c's float alpha
  switch (p.kind) {
    case Kind::kAutoContrast: HistogramLuts(src, dst, s, false); break;
    case Kind::kEqualize: HistogramLuts(src, dst, s, true); break;
    case Kind::kInvert:
    case Kind::kPosterize:
    case Kind::kSolarize:
    case Kind::kSolarizeAdd:
    case Kind::kBrightness: ApplyLut(src, dst, s, PointLut(p.kind, p.value)); break;
    case Kind::kContrast: Contrast(src, dst, s, alpha); break;
    case Kind::kColor: Color(src, dst, s, alpha); break;
    case Kind::kSharpness: Sharpness(src, dst, s, alpha); break;
    case Kind::kHue: Hue(src, dst, s, p.value); break;
    case Kind::kTranspose: Transpose(src, dst, s, static_cast<int>(p.value)); break;
    case Kind::kAffine: Affine(src, dst, s, p.matrix, resample, fill, scratch); break;
    default: std::memcpy(dst, src, s.Bytes()); break;
  }
}

// The ops in order, ping-ponging between the scratch buffers, the last writing to dst;
// no-op ops are skipped (no ops: a copy).
inline void ApplyOps(const uint8_t *src, uint8_t *dst, const Shape &s, const int *ops, const float *levels,
                     const int *filters, int count, const Hparams &hp, const uint8_t *fill, Scratch &scratch) {
  std::vector<OpParams> params;
  std::vector<Resample> resamples;
  for (int k = 0; k < count; k++) {
    const OpParams p = Resolve(ops[k], static_cast<double>(levels[k]), s.w, s.h, hp, Round15);
    if (p.kind == Kind::kCopy) continue;
    params.push_back(p);
    resamples.push_back(static_cast<Resample>(filters[k]));
  }
  if (params.empty()) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  // Op k < n - 1 writes to ping (k even) or pong (k odd); the last one to dst.
  if (params.size() > 1) scratch.ping.resize(s.Bytes());
  if (params.size() > 2) scratch.pong.resize(s.Bytes());
  const uint8_t *from = src;
  for (size_t k = 0; k < params.size(); k++) {
    uint8_t *to = k + 1 == params.size() ? dst : (k % 2 ? scratch.pong.data() : scratch.ping.data());
    RunOp(params[k], from, to, s, resamples[k], fill, scratch);
    from = to;
  }
}

}  // namespace augment
}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_AUGMENT_CPU_H_
