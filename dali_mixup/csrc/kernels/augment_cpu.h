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
  std::vector<uint8_t> ping, pong;
  std::vector<double> col_x, col_y;
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

// Image.blend(in1, in2, alpha) for one value: Blend.c in float, truncated and clipped.
inline uint8_t Blend(int in1, int in2, float alpha) {
  const float v = static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1);
  return v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
}

// Pillow's RGB -> L.
inline int Luma(const uint8_t *rgb) { return (rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16; }

// One LUT per band (luts[0] for every band when shared).
inline void ApplyLuts(const uint8_t *src, uint8_t *dst, const Shape &s, const Lut *luts, bool shared) {
  const int64_t n = s.Bytes();
  if (shared || s.c == 1) {
    const uint8_t *lut = luts[0].data();
    for (int64_t i = 0; i < n; i++) dst[i] = lut[src[i]];
    return;
  }
  const uint8_t *l0 = luts[0].data(), *l1 = luts[1].data(), *l2 = luts[2].data();
  for (int64_t i = 0; i < n; i += 3) {
    dst[i] = l0[src[i]];
    dst[i + 1] = l1[src[i + 1]];
    dst[i + 2] = l2[src[i + 2]];
  }
}

inline void ApplyLut(const uint8_t *src, uint8_t *dst, const Shape &s, const Lut &lut) {
  ApplyLuts(src, dst, s, &lut, true);
}

// Per-band histograms (up to 3 bands); four partial tables break the store-to-load chains.
inline void Histograms(const uint8_t *src, const Shape &s, std::array<std::array<int64_t, 256>, 3> &hist) {
  std::vector<uint32_t> part(4 * 3 * 256, 0);
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  for (int64_t p = 0; p < pixels; p++) {
    uint32_t *t = &part[(p & 3) * 3 * 256];
    for (int b = 0; b < s.c; b++) t[b * 256 + src[p * s.c + b]]++;
  }
  for (int b = 0; b < s.c; b++)
    for (int v = 0; v < 256; v++) {
      int64_t sum = 0;
      for (int k = 0; k < 4; k++) sum += part[(k * 3 + b) * 256 + v];
      hist[b][v] = sum;
    }
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
      const float v = grey + alpha * (static_cast<float>(in[b]) - grey);
      dst[3 * p + b] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
}

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
    for (int64_t j = c; j < stride - c; j++) {
      float ss = 0.5f;  // Filter.c's rounding offset, its order: the row below first
      ss += static_cast<float>(down[j - c]) * k + static_cast<float>(down[j]) * k + static_cast<float>(down[j + c]) * k;
      ss += static_cast<float>(mid[j - c]) * k + static_cast<float>(mid[j]) * k5 + static_cast<float>(mid[j + c]) * k;
      ss += static_cast<float>(up[j - c]) * k + static_cast<float>(up[j]) * k + static_cast<float>(up[j + c]) * k;
      ss = ss < 0.0f ? 0.0f : ss;
      ss = ss > 255.0f ? 255.0f : ss;
      const float smooth = static_cast<float>(static_cast<int>(ss));
      const float v = smooth + alpha * (static_cast<float>(mid[j]) - smooth);
      out[j] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<uint8_t>(v);
    }
  }
}

inline uint8_t ClipInt8(int v) { return static_cast<uint8_t>(v <= 0 ? 0 : v < 256 ? v : 255); }

// Convert.c's rgb2hsv_row (float and double as written there).
inline void RgbToHsv(const uint8_t *in, uint8_t *out) {
  const uint8_t r = in[0], g = in[1], b = in[2];
  const uint8_t maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  out[2] = maxc;
  if (minc == maxc) {
    out[0] = out[1] = 0;
    return;
  }
  const float cr = static_cast<float>(maxc - minc);
  const float sat = cr / static_cast<float>(maxc);
  const float rc = static_cast<float>(maxc - r) / cr, gc = static_cast<float>(maxc - g) / cr,
              bc = static_cast<float>(maxc - b) / cr;
  float h;
  if (r == maxc)
    h = bc - gc;
  else if (g == maxc)
    h = static_cast<float>(2.0 + rc - bc);
  else
    h = static_cast<float>(4.0 + gc - rc);
  h = static_cast<float>(std::fmod(h / 6.0 + 1.0, 1.0));
  out[0] = ClipInt8(static_cast<int>(h * 255.0));
  out[1] = ClipInt8(static_cast<int>(sat * 255.0));
}

// Convert.c's hsv2rgb.
inline void HsvToRgb(const uint8_t *in, uint8_t *out) {
  const uint8_t h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = v;
    return;
  }
  const int i = static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
  const float f = static_cast<float>(static_cast<float>(h) * 6.0 / 255.0 - static_cast<float>(i));
  const float fs = static_cast<float>(static_cast<float>(s) / 255.0);
  const uint8_t p = ClipInt8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs))));
  const uint8_t q = ClipInt8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs * f))));
  const uint8_t t = ClipInt8(static_cast<int>(std::round(static_cast<float>(v) * (1.0 - fs * (1.0 - f)))));
  const uint8_t rgb[6][3] = {{v, t, p}, {q, v, p}, {p, v, t}, {p, q, v}, {t, p, v}, {v, p, q}};
  std::memcpy(out, rgb[i % 6], 3);
}

// torchvision's adjust_hue on a PIL image: H + uint8(int32(factor * 255)), wrapping.
inline void Hue(const uint8_t *src, uint8_t *dst, const Shape &s, double factor) {
  if (s.c != 3) {
    std::memcpy(dst, src, s.Bytes());
    return;
  }
  const uint8_t shift = static_cast<uint8_t>(static_cast<int32_t>(factor * 255));
  const int64_t pixels = static_cast<int64_t>(s.h) * s.w;
  for (int64_t p = 0; p < pixels; p++) {
    uint8_t hsv[3];
    RgbToHsv(src + 3 * p, hsv);
    hsv[0] = static_cast<uint8_t>(hsv[0] + shift);
    HsvToRgb(hsv, dst + 3 * p);
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

// Image.transform(size, AFFINE, matrix, resample, fillcolor): each output pixel centre mapped
// through the matrix in double, exactly as affine_transform does (a0*x + a1*y + a2, the
// products precomputed per column and row); outside the source: the fill colour.
inline void Affine(const uint8_t *src, uint8_t *dst, const Shape &s, const double *a, Resample resample,
                   const uint8_t *fill, Scratch &scratch) {
  auto &ax = scratch.col_x, &dx = scratch.col_y;
  ax.resize(s.w), dx.resize(s.w);
  for (int x = 0; x < s.w; x++) ax[x] = a[0] * (x + 0.5), dx[x] = a[3] * (x + 0.5);
  const int c = s.c;
  for (int y = 0; y < s.h; y++) {
    const double by = a[1] * (y + 0.5), ey = a[4] * (y + 0.5);
    uint8_t *out = dst + static_cast<int64_t>(y) * s.w * c;
    for (int x = 0; x < s.w; x++, out += c) {
      const double xin = ax[x] + by + a[2], yin = dx[x] + ey + a[5];
      if (xin < 0.0 || xin >= s.w || yin < 0.0 || yin >= s.h) {
        std::memcpy(out, fill, c);
      } else if (resample == Resample::kBicubic) {
        BicubicAt(src, s, xin - 0.5, yin - 0.5, out);
      } else {
        BilinearAt(src, s, xin - 0.5, yin - 0.5, out);
      }
    }
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
  scratch.ping.resize(s.Bytes());
  scratch.pong.resize(s.Bytes());
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
