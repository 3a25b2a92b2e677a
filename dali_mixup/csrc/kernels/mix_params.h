// The mixing parameters of one sample (partner, CutMix or Mixup, box, lam) from DALI's random
// draws: timm 1.0's formulas, computed once here for the CPU and the GPU operators. Host code,
// plain values: no DALI types.
#ifndef DALI_MIXUP_KERNELS_MIX_PARAMS_H_
#define DALI_MIXUP_KERNELS_MIX_PARAMS_H_

#include <algorithm>
#include <cmath>

namespace dali_mixup {
namespace kernels {

enum Mode : int { kBatch = 0, kPair = 1, kElem = 2 };

// What one sample of the output is made of.
struct Sample {
  int partner = 0;       // sample whose pixels are mixed in (own index: nothing mixed in)
  int cut = 0;           // 1: the partner's box pasted in (CutMix)
  float weight = 1.0f;   // Mixup's weight of the own image (1 for CutMix or no mixing)
  float lam = 1.0f;      // weight of the own label
  int box[4] = {0, 0, 0, 0};  // top, left, height, width
};

struct MixSettings {
  Mode mode = kBatch;
  bool mixup = true, cutmix = false;
  float switch_prob = 0.5f;
  bool correct_lam = true;
  bool minmax = false;
  double minmax_lo = 0.0, minmax_hi = 0.0;  // as timm's Python floats: int(S * lo) needs them
};

// Uniform draws per sample: [apply, switch (Mixup and CutMix), box (2, or 4 with minmax),
// partner fallback (not in pair mode)].
inline int UniformDraws(const MixSettings &s) {
  const bool both = s.mixup && s.cutmix;
  return 1 + both + (s.cutmix ? (s.minmax ? 4 : 2) : 0) + (s.mode != kPair);
}

// The samples at the start of a batch of n that are real (a reader pads its last batch with
// copies of its last sample): `samples` where given (0 <= samples < n), else n.
inline int RealSamples(int samples, int n) { return samples >= 0 && samples < n ? samples : n; }

// Whose draws sample i uses: sample 0's (batch), its pair's first (pair), its own (elem).
inline int ShareIndex(Mode mode, int i, int real) {
  if (mode == kBatch) return 0;
  if (mode == kPair && i < real) return std::min(i, real - 1 - i);
  return i;
}

// One sample's draws, as the operators read them.
struct Draws {
  const float *uniform;  // the shared draws (see ShareIndex), UniformDraws(settings) of them
  float fallback;        // this sample's own last uniform draw (not in pair mode)
  int permutation;       // the batch derangement at i (not in pair mode)
  float beta_mixup;      // Mixup's Beta draw, shared (with Mixup)
  float beta_cutmix;     // CutMix's Beta draw, shared (with CutMix and no minmax)
  float prob;            // chance of mixing of sample i
};

// timm's CutMix box along one axis of size `size`: writes the start and the side.
//  - from lam (rand_bbox): cut = int(size * sqrt(1 - lam)), centre c uniform in [0, size),
//    [c - cut // 2, c + (cut + 1) // 2) clipped to the image;
//  - minmax (rand_bbox_minmax): side uniform in [int(size * lo), int(size * hi)), start
//    uniform in [0, size - side].
// v, v_start: the axis' uniform draws in [0, 1); numpy's randint(a, b) is a + floor(v * (b - a)).
inline void BoxAxis(const MixSettings &s, double size, float lam_cut, float v, float v_start,
                    int *start, int *side) {
  if (s.minmax) {
    const double low = std::floor(size * s.minmax_lo);
    const double high = std::floor(size * s.minmax_hi);
    const double length = low + std::floor(static_cast<double>(v) * (high - low));
    *side = static_cast<int>(length);
    *start = static_cast<int>(std::floor(static_cast<double>(v_start) * (size - length + 1.0)));
    return;
  }
  const double cut = std::floor(size * std::sqrt(1.0 - static_cast<double>(lam_cut)));
  const double centre = std::floor(static_cast<double>(v) * size);
  const double low = std::clamp(centre - std::floor(cut / 2), 0.0, size);
  const double high = std::clamp(centre + std::floor((cut + 1) / 2), 0.0, size);
  *start = static_cast<int>(low);
  *side = static_cast<int>(high - low);
}

// Sample i of a batch whose first `real` samples are real; images of size (H, W).
inline Sample DrawSample(const MixSettings &s, int i, int real, const Draws &d, int H, int W) {
  Sample out;
  const bool both = s.mixup && s.cutmix;
  const float *u = d.uniform;
  int gather = i;
  if (s.mode == kPair) {
    gather = real - 1 - i;
  } else if (real > 1) {
    gather = d.permutation;
    // A partner among the padding: another real sample, uniformly, never the own one.
    // (float32 rounding can take f * (real - 1) up to real - 1 itself, hence the min.)
    if (gather >= real) {
      const int step = static_cast<int>(std::floor(d.fallback * static_cast<float>(real - 1)));
      gather = (i + 1 + std::min(step, real - 2)) % real;
    }
  }
  bool mixed = u[0] < d.prob;
  if (i >= real || real == 1 || (s.mode == kPair && real % 2 == 1 && i == real / 2)) mixed = false;
  const bool cut = mixed && s.cutmix && (!both || u[1] < s.switch_prob);
  const bool blend = mixed && s.mixup && !cut;
  out.partner = mixed ? gather : i;
  out.cut = cut;
  out.weight = blend ? d.beta_mixup : 1.0f;
  out.lam = out.weight;
  if (!cut) return out;
  const float *v = u + 1 + both;  // the box draws
  const double size[2] = {static_cast<double>(H), static_cast<double>(W)};
  for (int k = 0; k < 2; k++)
    BoxAxis(s, size[k], d.beta_cutmix, v[k], s.minmax ? v[2 + k] : 0.0f, &out.box[k], &out.box[2 + k]);
  if (s.correct_lam || s.minmax)
    out.lam = static_cast<float>(1.0 - static_cast<double>(out.box[2]) * out.box[3] / (size[0] * size[1]));
  else
    out.lam = d.beta_cutmix;
  return out;
}

}  // namespace kernels
}  // namespace dali_mixup

#endif  // DALI_MIXUP_KERNELS_MIX_PARAMS_H_
