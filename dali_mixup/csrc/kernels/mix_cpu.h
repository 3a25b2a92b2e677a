// The stage's pixel pass on the CPU: one image of the output, row by row, each output element
// written once (a copy, a blend, or the partner's pixel inside the CutMix box), normalized and
// transposed on the way. Plain pointers and shapes; the per-element math is blend.h's.
#ifndef DALI_MIXUP_KERNELS_MIX_CPU_H_
#define DALI_MIXUP_KERNELS_MIX_CPU_H_

#include <cstdint>
#include <vector>

#include "blend.h"
#include "mix_params.h"

namespace dali_mixup {
namespace kernels {

namespace cpu {

// HWC with 3 channels to CHW: the layout of a normalizing training pipeline, one pass over the
// row, simple enough for the compiler to vectorize. b null: a copy.
template <typename In, typename Out>
void RowHwc3ToChw(const In *a, const In *b, Out *out, int64_t plane, int64_t n, const Affine *w) {
  const Affine w0 = w[0], w1 = w[1], w2 = w[2];
  Out *o0 = out, *o1 = out + plane, *o2 = out + 2 * plane;
  if (!b) {
    for (int64_t x = 0; x < n; x++) {
      o0[x] = Store<Out>(CopyValue(Load(a[3 * x]), w0));
      o1[x] = Store<Out>(CopyValue(Load(a[3 * x + 1]), w1));
      o2[x] = Store<Out>(CopyValue(Load(a[3 * x + 2]), w2));
    }
    return;
  }
  for (int64_t x = 0; x < n; x++) {
    o0[x] = Store<Out>(BlendValue(Load(a[3 * x]), Load(b[3 * x]), w0));
    o1[x] = Store<Out>(BlendValue(Load(a[3 * x + 1]), Load(b[3 * x + 1]), w1));
    o2[x] = Store<Out>(BlendValue(Load(a[3 * x + 2]), Load(b[3 * x + 2]), w2));
  }
}

// A contiguous run of n elements with one weight set for all (no normalization, same layout).
template <typename In, typename Out>
void RowFlat(const In *a, const In *b, Out *out, int64_t n, const Affine &w) {
  if (!b) {
    for (int64_t k = 0; k < n; k++) out[k] = Store<Out>(CopyValue(Load(a[k]), w));
    return;
  }
  for (int64_t k = 0; k < n; k++) out[k] = Store<Out>(BlendValue(Load(a[k]), Load(b[k]), w));
}

// Any other layout pair: element strides per pixel (x) and per channel (c).
template <typename In, typename Out>
void RowGeneric(const In *a, const In *b, Out *out, int64_t n, int channels, int64_t in_x,
                int64_t in_c, int64_t out_x, int64_t out_c, const Affine *w) {
  for (int c = 0; c < channels; c++) {
    for (int64_t x = 0; x < n; x++) {
      const float own = Load(a[x * in_x + c * in_c]);
      out[x * out_x + c * out_c] = Store<Out>(
          b ? BlendValue(own, Load(b[x * in_x + c * in_c]), w[c]) : CopyValue(own, w[c]));
    }
  }
}

}  // namespace cpu

// Writes one output image: `own` with `other` (the partner) mixed in as `p` says.
template <typename In, typename Out>
void MixImageCpu(const In *own, const In *other, Out *out, const Geometry &g, const Sample &p,
                 const Normalization &norm) {
  const int64_t H = g.H, W = g.W;
  const int C = g.C;
  std::vector<Affine> blend(C), copy(C);
  for (int c = 0; c < C; c++) {
    blend[c] = ChannelWeights(p.weight, norm.Scale(c), norm.Bias(c));
    copy[c] = ChannelWeights(1.0f, norm.Scale(c), norm.Bias(c));
  }
  // Element strides: per pixel along a row and per channel, in and out.
  const int64_t in_x = g.in_chw ? 1 : C, in_c = g.in_chw ? H * W : 1;
  const int64_t out_x = g.out_chw ? 1 : C, out_c = g.out_chw ? H * W : 1;
  const int64_t in_row = g.in_chw ? W : W * C, out_row = g.out_chw ? W : W * C;
  auto run = [&](int64_t y, int64_t x0, int64_t x1, const In *a, const In *b, const Affine *w) {
    if (x1 <= x0) return;
    const In *ra = a + y * in_row + x0 * in_x, *rb = b ? b + y * in_row + x0 * in_x : nullptr;
    Out *ro = out + y * out_row + x0 * out_x;
    if (!g.in_chw && g.out_chw && C == 3)
      cpu::RowHwc3ToChw(ra, rb, ro, H * W, x1 - x0, w);
    else if (!g.in_chw && !g.out_chw && !norm.normalizes())
      cpu::RowFlat(ra, rb, ro, (x1 - x0) * C, w[0]);
    else if (g.in_chw && g.out_chw && !norm.normalizes())
      for (int c = 0; c < C; c++)
        cpu::RowFlat(ra + c * in_c, rb ? rb + c * in_c : nullptr, ro + c * out_c, x1 - x0, w[0]);
    else
      cpu::RowGeneric(ra, rb, ro, x1 - x0, C, in_x, in_c, out_x, out_c, w);
  };
  const bool blends = !p.cut && p.weight != 1.0f;
  const int64_t top = p.box[0], left = p.box[1], bottom = top + p.box[2], right = left + p.box[3];
  for (int64_t y = 0; y < H; y++) {
    if (p.cut && y >= top && y < bottom) {
      run(y, 0, left, own, nullptr, copy.data());
      run(y, left, right, other, nullptr, copy.data());
      run(y, right, W, own, nullptr, copy.data());
    } else if (blends) {
      run(y, 0, W, own, other, blend.data());
    } else {  // not mixed, or outside the box: the own pixels
      run(y, 0, W, own, nullptr, copy.data());
    }
  }
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_MIX_CPU_H_
