// Separable, antialiased resampling of one uint8 HWC image on the CPU: Pillow's algorithm
// (Image.resize with BILINEAR or BICUBIC; libImaging/Resample.c), bit for bit: per axis, weights
// of the filter stretched by the downscale factor, computed in double and rounded to fixed point
// with 22 fraction bits; a horizontal pass over the input rows the vertical pass reads, rounded
// and clamped to uint8, then the vertical pass. A horizontal flip rides on the horizontal pass
// (columns are independent, so flipping there equals flipping the result).
//
// Knows nothing of DALI: plain pointers, sizes and a scratch buffer of the caller's.
#ifndef DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_
#define DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace dali_mixup {
namespace kernels {

enum class Filter : int { kBilinear = 0, kBicubic = 1 };

// Pillow's PRECISION_BITS for 8-bit images: 255 * sum|w| stays inside int32.
inline constexpr int kPrecisionBits = 32 - 8 - 2;

inline double FilterSupport(Filter f) { return f == Filter::kBicubic ? 2.0 : 1.0; }

inline double FilterWeight(Filter f, double x) {
  x = std::fabs(x);
  if (f == Filter::kBilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;  // Pillow's (and Keys') bicubic convolution
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One axis: output o reads inputs [first[o], first[o] + count[o]) with weights[o * taps + t].
struct AxisWeights {
  int taps = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;
};

// Pillow's precompute_coeffs and normalize_coeffs_8bpc for the input span [0, in_size).
inline void ComputeAxis(AxisWeights &a, int in_size, int out_size, Filter f) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = FilterSupport(f) * filterscale;
  a.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  a.first.assign(out_size, 0);
  a.count.assign(out_size, 0);
  a.weights.assign(static_cast<size_t>(out_size) * a.taps, 0);
  std::vector<double> w(a.taps);
  const double ss = 1.0 / filterscale;  // multiplied, not divided: Pillow's roundings
  for (int o = 0; o < out_size; o++) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int n = std::min(static_cast<int>(center + support + 0.5), in_size) - lo;
    double sum = 0.0;
    for (int t = 0; t < n; t++) sum += w[t] = FilterWeight(f, (t + lo - center + 0.5) * ss);
    int32_t *k = &a.weights[static_cast<size_t>(o) * a.taps];
    for (int t = 0; t < n; t++) {
      const double v = (sum != 0.0 ? w[t] / sum : w[t]) * (1 << kPrecisionBits);
      k[t] = static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
    }
    a.first[o] = lo;
    a.count[o] = n;
  }
}

// Pillow's clip8: the fixed-point sum, rounded (the sum starts at one half), as uint8.
inline uint8_t Clip8(int32_t s) {
  return static_cast<uint8_t>(std::clamp(s >> kPrecisionBits, 0, 255));
}

inline constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

// Gives every output of the axis the same window length (the longest): windows that would run
// past the input move back and their weights move forward, the new places weighing 0. The sums
// stay exactly Pillow's; the horizontal pass then runs loops of a fixed length.
inline void EvenWindows(AxisWeights &a, int in_size) {
  const int n = *std::max_element(a.count.begin(), a.count.end());
  for (size_t o = 0; o < a.first.size(); o++) {
    const int shift = std::max(a.first[o] + n - in_size, 0);
    int32_t *k = &a.weights[o * a.taps];
    if (shift > 0) {
      std::copy_backward(k, k + a.count[o], k + a.count[o] + shift);
      std::fill(k, k + shift, 0);
    }
    a.first[o] -= shift;
    a.count[o] = n;
  }
}

// Row `src` (C channels) resampled to dst (width a.first.size()), flipped if asked; every
// window has N taps (EvenWindows), or a.count[x] where N is 0.
template <int C, int N>
void HorizontalRow(const uint8_t *src, uint8_t *dst, const AxisWeights &a, bool mirror) {
  const int out_w = static_cast<int>(a.first.size());
  for (int x = 0; x < out_w; x++) {
    const int32_t *k = &a.weights[static_cast<size_t>(x) * a.taps];
    const uint8_t *p = src + static_cast<size_t>(a.first[x]) * C;
    int32_t s[C];
    for (int c = 0; c < C; c++) s[c] = kHalf;
    const int n = N > 0 ? N : a.count[x];
    for (int t = 0; t < n; t++, p += C)
      for (int c = 0; c < C; c++) s[c] += p[c] * k[t];
    uint8_t *q = dst + static_cast<size_t>(mirror ? out_w - 1 - x : x) * C;
    for (int c = 0; c < C; c++) q[c] = Clip8(s[c]);
  }
}

// HorizontalRow with the window length fixed at compile time where it is at most kFixedTaps
// (downscales up to about 4x bilinear, 2x bicubic).
inline constexpr int kFixedTaps = 10;

template <int C, int N = 1>
void HorizontalRowFixed(const uint8_t *src, uint8_t *dst, const AxisWeights &a, bool mirror) {
  if constexpr (N > kFixedTaps) {
    HorizontalRow<C, 0>(src, dst, a, mirror);
  } else {
    if (a.count.front() == N) return HorizontalRow<C, N>(src, dst, a, mirror);
    HorizontalRowFixed<C, N + 1>(src, dst, a, mirror);
  }
}

// Any channel count: the same arithmetic with a run-time C.
inline void HorizontalRowAny(const uint8_t *src, uint8_t *dst, const AxisWeights &a, bool mirror, int C,
                             int32_t *sums) {
  const int out_w = static_cast<int>(a.first.size());
  for (int x = 0; x < out_w; x++) {
    const int32_t *k = &a.weights[static_cast<size_t>(x) * a.taps];
    const uint8_t *p = src + static_cast<size_t>(a.first[x]) * C;
    std::fill(sums, sums + C, kHalf);
    for (int t = 0, n = a.count[x]; t < n; t++, p += C)
      for (int c = 0; c < C; c++) sums[c] += p[c] * k[t];
    uint8_t *q = dst + static_cast<size_t>(mirror ? out_w - 1 - x : x) * C;
    for (int c = 0; c < C; c++) q[c] = Clip8(sums[c]);
  }
}

// Output row from `count` input rows `row_len` bytes apart starting at src; acc: row_len ints.
// The loops run along the row, so they vectorize whatever C is.
inline void VerticalRow(const uint8_t *src, size_t row_len, const int32_t *k, int count, uint8_t *dst,
                        int32_t *acc) {
  std::fill(acc, acc + row_len, kHalf);
  for (int t = 0; t < count; t++) {
    const uint8_t *p = src + t * row_len;
    const int32_t w = k[t];
    for (size_t j = 0; j < row_len; j++) acc[j] += p[j] * w;
  }
  for (size_t j = 0; j < row_len; j++) dst[j] = Clip8(acc[j]);
}

// What one resampling needs besides its input and output; reused from image to image.
struct ResampleScratch {
  AxisWeights horizontal, vertical;
  std::vector<uint8_t> rows;
  std::vector<int32_t> acc;
};

struct ResampleShape {
  int in_h, in_w, out_h, out_w, channels;
};

// Horizontal pass over `rows` rows of `src` (in_w x C each) into dst (out_w x C each).
inline void HorizontalPass(const uint8_t *src, uint8_t *dst, int rows, const ResampleShape &s, bool mirror,
                           ResampleScratch &scratch) {
  const int C = s.channels;
  const size_t in_row = static_cast<size_t>(s.in_w) * C, out_row = static_cast<size_t>(s.out_w) * C;
  const AxisWeights &a = scratch.horizontal;
  scratch.acc.resize(std::max<size_t>(scratch.acc.size(), C));
  for (int y = 0; y < rows; y++, src += in_row, dst += out_row) {
    if (C == 3)
      HorizontalRowFixed<3>(src, dst, a, mirror);
    else if (C == 1)
      HorizontalRowFixed<1>(src, dst, a, mirror);
    else if (C == 4)
      HorizontalRowFixed<4>(src, dst, a, mirror);
    else
      HorizontalRowAny(src, dst, a, mirror, C, scratch.acc.data());
  }
}

// Vertical pass: output rows of row_len bytes from the rows of src, whose first row is input row y0.
inline void VerticalPass(const uint8_t *src, uint8_t *dst, size_t row_len, int out_h, int y0,
                         ResampleScratch &scratch) {
  const AxisWeights &a = scratch.vertical;
  scratch.acc.resize(std::max(scratch.acc.size(), row_len));
  for (int y = 0; y < out_h; y++)
    VerticalRow(src + (a.first[y] - y0) * row_len, row_len, &a.weights[static_cast<size_t>(y) * a.taps],
                a.count[y], dst + y * row_len, scratch.acc.data());
}

// Whether Pillow (13 and newer) resamples the width first: unless the height shrinks by more
// than twice as many pixels as the width (then the narrower vertical result is cheaper to
// resample across). Pillow 12 and older always go width first; the two orders round apart.
inline bool HorizontalFirst(const ResampleShape &s) {
  const int dh = s.in_h - s.out_h, dw = s.in_w - s.out_w;
  return !(dh > 0 && dh > dw * 2);
}

// in: in_h x in_w x C, rows packed; out: out_h x out_w x C, rows packed. All sizes >= 1.
inline void ResampleHWC(const uint8_t *in, uint8_t *out, const ResampleShape &s, Filter filter, bool mirror,
                        ResampleScratch &scratch) {
  const size_t in_row = static_cast<size_t>(s.in_w) * s.channels;
  const size_t out_row = static_cast<size_t>(s.out_w) * s.channels;
  // A flip at the same width is a horizontal pass too: Pillow's weights are then one-hot.
  const bool horizontal = s.in_w != s.out_w || mirror, vertical = s.in_h != s.out_h;
  if (horizontal) {
    ComputeAxis(scratch.horizontal, s.in_w, s.out_w, filter);
    EvenWindows(scratch.horizontal, s.in_w);
  }
  if (vertical) ComputeAxis(scratch.vertical, s.in_h, s.out_h, filter);
  if (!horizontal && !vertical) {
    std::memcpy(out, in, static_cast<size_t>(s.in_h) * in_row);
  } else if (!vertical) {
    HorizontalPass(in, out, s.in_h, s, mirror, scratch);
  } else if (!horizontal) {
    VerticalPass(in, out, in_row, s.out_h, 0, scratch);
  } else if (HorizontalFirst(s)) {
    // Only the input rows the vertical pass reads.
    const AxisWeights &v = scratch.vertical;
    const int y0 = v.first.front(), y1 = v.first.back() + v.count.back();
    scratch.rows.resize(static_cast<size_t>(y1 - y0) * out_row);
    HorizontalPass(in + y0 * in_row, scratch.rows.data(), y1 - y0, s, mirror, scratch);
    VerticalPass(scratch.rows.data(), out, out_row, s.out_h, y0, scratch);
  } else {
    scratch.rows.resize(static_cast<size_t>(s.out_h) * in_row);
    VerticalPass(in, scratch.rows.data(), in_row, s.out_h, 0, scratch);
    HorizontalPass(scratch.rows.data(), out, s.out_h, s, mirror, scratch);
  }
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_RESAMPLE_CPU_H_
