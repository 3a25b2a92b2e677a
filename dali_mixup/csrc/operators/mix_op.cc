// The mixing stage on the CPU as one DALI operator: parameters, targets and pixels in one pass.
//
// DALI's CPU arithmetic runs every operator of an expression as its own pass over the batch,
// and each small per-sample operator has a fixed cost per batch; composed from DALI's
// operators, mixing cost as much as decoding. This operator reads each pixel of the sample
// and of its partner once and writes the output once, optionally normalized and transposed
// (the work of fn.crop_mirror_normalize), so that a training pipeline makes no extra pass.
//
// Randomness comes from DALI's seeded operators, given as inputs; this operator has no state.
//
// Inputs (CPU): images (HWC or CHW, uint8/float16/float32, one shape per batch), labels
// (class id: 1 element; soft: num_classes elements), uniform draws (float32 vector), then
// the partner permutation (int32 scalar; not in pair mode), Mixup's Beta draw (float32 (1,);
// with Mixup), CutMix's Beta draw (float32 (1,); with CutMix and no minmax).
// Outputs (CPU): images, targets float32 (num_classes,), lam float32 (), partner int32 (),
// cutmix int32 (), box int32 (4,) (top, left, height, width).
// Failed checks throw "[dali_mixup check=K sample=S num_classes=C]", which
// dali_mixup.errors turns into a Python error with a plain message.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "dali/core/float16.h"
#include "dali/pipeline/operator/checkpointing/stateless_operator.h"
#include "dali/pipeline/operator/operator.h"
#include "dali/pipeline/util/thread_pool.h"

namespace dali_mixup {

using dali::CPUBackend;
using dali::DALIDataType;
using dali::TensorList;

// Must match dali_mixup.errors.Check.
enum Check : int {
  kLayout = 1, kSameShape = 2, kLabelRange = 3, kSoftLabelLength = 4, kNormChannels = 6, kEmpty = 7
};
enum Mode : int { kBatch = 0, kPair = 1, kElem = 2 };

[[noreturn]] void Fail(Check check, int sample, int num_classes) {
  std::ostringstream text;
  text << "[dali_mixup check=" << static_cast<int>(check) << " sample=" << sample
       << " num_classes=" << num_classes << "]";
  throw std::runtime_error(text.str());
}

// Element k of sample i of a numeric batch, as double.
double ValueAt(const TensorList<CPUBackend> &batch, int i, int64_t k) {
  const void *p = batch.raw_tensor(i);
  switch (batch.type()) {
    case DALIDataType::DALI_BOOL: return static_cast<const bool *>(p)[k];
    case DALIDataType::DALI_UINT8: return static_cast<const uint8_t *>(p)[k];
    case DALIDataType::DALI_UINT16: return static_cast<const uint16_t *>(p)[k];
    case DALIDataType::DALI_UINT32: return static_cast<const uint32_t *>(p)[k];
    case DALIDataType::DALI_UINT64: return static_cast<double>(static_cast<const uint64_t *>(p)[k]);
    case DALIDataType::DALI_INT8: return static_cast<const int8_t *>(p)[k];
    case DALIDataType::DALI_INT16: return static_cast<const int16_t *>(p)[k];
    case DALIDataType::DALI_INT32: return static_cast<const int32_t *>(p)[k];
    case DALIDataType::DALI_INT64: return static_cast<double>(static_cast<const int64_t *>(p)[k]);
    case DALIDataType::DALI_FLOAT16: return static_cast<float>(static_cast<const dali::float16 *>(p)[k]);
    case DALIDataType::DALI_FLOAT: return static_cast<const float *>(p)[k];
    case DALIDataType::DALI_FLOAT64: return static_cast<const double *>(p)[k];
    default:
      throw std::runtime_error(std::string("[dali_mixup labels: expected numbers, got type ") +
                               dali::GetBuiltinTypeName(batch.type()) + "]");
  }
}

template <typename Out>
inline Out Store(float v) {
  if constexpr (std::is_same_v<Out, uint8_t>) {
    return static_cast<uint8_t>(std::round(std::min(v > 0.0f ? v : 0.0f, 255.0f)));  // NaN: 0
  } else {
    return static_cast<Out>(v);
  }
}

// One run of pixels along a row: out = a * wa + b * wb + bias per channel, where the weights
// carry the normalization (wa = w / std, bias = -mean / std); a copy (b null) is
// out = a * wa + bias. a, b: interleaved (HWC) or planar (CHW) rows.
struct Weights {
  std::vector<float> wa, wb, bias;  // one per channel
};

// HWC with 3 channels to CHW: the layout of a normalizing training pipeline, one pass over
// the row, simple enough for the compiler to vectorize.
template <typename In, typename Out>
void RunHwc3ToChw(const In *a, const In *b, Out *out, int64_t plane, int64_t n, const Weights &w) {
  const float wa0 = w.wa[0], wa1 = w.wa[1], wa2 = w.wa[2];
  const float bias0 = w.bias[0], bias1 = w.bias[1], bias2 = w.bias[2];
  Out *o0 = out, *o1 = out + plane, *o2 = out + 2 * plane;
  if (!b) {  // a copy
    for (int64_t x = 0; x < n; x++) {
      o0[x] = Store<Out>(static_cast<float>(a[3 * x]) * wa0 + bias0);
      o1[x] = Store<Out>(static_cast<float>(a[3 * x + 1]) * wa1 + bias1);
      o2[x] = Store<Out>(static_cast<float>(a[3 * x + 2]) * wa2 + bias2);
    }
    return;
  }
  const float wb0 = w.wb[0], wb1 = w.wb[1], wb2 = w.wb[2];
  for (int64_t x = 0; x < n; x++) {
    o0[x] = Store<Out>(static_cast<float>(a[3 * x]) * wa0 + static_cast<float>(b[3 * x]) * wb0 + bias0);
    o1[x] = Store<Out>(static_cast<float>(a[3 * x + 1]) * wa1 + static_cast<float>(b[3 * x + 1]) * wb1 + bias1);
    o2[x] = Store<Out>(static_cast<float>(a[3 * x + 2]) * wa2 + static_cast<float>(b[3 * x + 2]) * wb2 + bias2);
  }
}

// Same layout in and out, one weight set for every channel (no normalization): a row is
// one contiguous run of n elements.
template <typename In, typename Out>
void RunFlat(const In *a, const In *b, Out *out, int64_t n, const Weights &w) {
  const float wa = w.wa[0], wb = w.wb[0], bias = w.bias[0];
  if (!b) {  // a copy
    for (int64_t k = 0; k < n; k++) out[k] = Store<Out>(static_cast<float>(a[k]) * wa + bias);
    return;
  }
  for (int64_t k = 0; k < n; k++)
    out[k] = Store<Out>(static_cast<float>(a[k]) * wa + static_cast<float>(b[k]) * wb + bias);
}

// Any other layout pair: element strides per pixel (x) and per channel (c).
template <typename In, typename Out>
void RunGeneric(const In *a, const In *b, Out *out, int64_t n, int channels, int64_t in_x,
                int64_t in_c, int64_t out_x, int64_t out_c, const Weights &w) {
  for (int c = 0; c < channels; c++) {
    const float wa = w.wa[c], wb = w.wb[c], bias = w.bias[c];
    for (int64_t x = 0; x < n; x++) {
      const float other = b ? static_cast<float>(b[x * in_x + c * in_c]) * wb : 0.0f;
      out[x * out_x + c * out_c] = Store<Out>(static_cast<float>(a[x * in_x + c * in_c]) * wa + other + bias);
    }
  }
}

struct Sample {
  int partner;   // sample whose pixels are mixed in (own index: nothing mixed in)
  bool cut;      // CutMix: the partner's box pasted in
  float weight;  // Mixup's weight of the own image (1 for CutMix or no mixing)
  float lam;     // weight of the own label
  int box[4];    // top, left, height, width
};

// The image side both operators share: layouts, per-sample checks, output shapes and the one
// pass over the pixels.
class Pixels {
 public:
  explicit Pixels(const dali::OpSpec &spec)
      : layout_(spec.GetArgument<std::string>("layout")),
        output_layout_(spec.GetArgument<std::string>("output_layout")),
        mean_(spec.GetRepeatedArgument<float>("mean")),
        std_(spec.GetRepeatedArgument<float>("std")),
        dtype_(spec.GetArgument<DALIDataType>("dtype")) {
    DALI_ENFORCE(mean_.size() == std_.size(), "mean and std: expected as many values in each");
    for (const auto &l : {layout_, output_layout_})
      DALI_ENFORCE(l.empty() || l == "HWC" || l == "CHW", "layouts: expected HWC, CHW or empty");
    DALI_ENFORCE(dtype_ == DALIDataType::DALI_UINT8 || dtype_ == DALIDataType::DALI_FLOAT16 ||
                     dtype_ == DALIDataType::DALI_FLOAT,
                 "dtype: expected UINT8, FLOAT16 or FLOAT");
  }

  // Checks the batch (num_classes only goes into the failure's tag) and describes the output.
  dali::OutputDesc Setup(const TensorList<CPUBackend> &images, int num_classes) {
    const int n = images.num_samples();
    in_layout_ = layout_.empty() ? std::string(images.GetLayout().c_str()) : layout_;
    for (int i = 0; i < n; i++) {
      if ((in_layout_ != "HWC" && in_layout_ != "CHW") || images.tensor_shape(i).size() != 3)
        Fail(kLayout, i, num_classes);
      if (images.tensor_shape(i) != images.tensor_shape(0)) Fail(kSameShape, i, num_classes);
      if (images.tensor_shape(i).num_elements() == 0) Fail(kEmpty, i, num_classes);
      const int64_t channels = images.tensor_shape(i)[in_layout_ == "CHW" ? 0 : 2];
      if (!mean_.empty() && channels != static_cast<int64_t>(mean_.size()))
        Fail(kNormChannels, i, num_classes);
    }
    out_layout_ = output_layout_.empty() ? in_layout_ : output_layout_;
    dali::TensorListShape<> shape(n, 3);
    for (int i = 0; i < n; i++) {
      auto s = images.tensor_shape(i);
      if (in_layout_ != out_layout_)
        s = in_layout_ == "HWC" ? dali::TensorShape<>{s[2], s[0], s[1]}
                                : dali::TensorShape<>{s[1], s[2], s[0]};
      shape.set_tensor_shape(i, s);
    }
    return {shape, dtype_};
  }

  // (H, W) of the batch's images, after Setup.
  std::array<float, 2> Size(const TensorList<CPUBackend> &images) const {
    const auto &shape = images.tensor_shape(0);
    const bool chw = in_layout_ == "CHW";
    return {static_cast<float>(shape[chw ? 1 : 0]), static_cast<float>(shape[chw ? 2 : 1])};
  }

  // Writes every sample's output, one sample per task of the pool.
  void Run(const TensorList<CPUBackend> &images, TensorList<CPUBackend> &out,
           const std::vector<Sample> &samples, dali::ThreadPool &pool) const {
    out.SetLayout(out_layout_);
    for (int i = 0; i < images.num_samples(); i++)
      pool.AddWork([&, i](int) { MixImage(images, out, samples, i); });
    pool.RunAll();
  }

 private:
  template <typename In, typename Out>
  void MixRows(const In *own, const In *other, Out *out, const Sample &p, int64_t H, int64_t W,
               int C) const {
    const bool in_chw = in_layout_ == "CHW", out_chw = out_layout_ == "CHW";
    // Normalizing: (v - mean) / std == v * scale + bias; otherwise scale 1, bias 0.
    Weights blend, copy;
    for (int c = 0; c < C; c++) {
      const float scale = mean_.empty() ? 1.0f : 1.0f / std_[c];
      const float bias = mean_.empty() ? 0.0f : -mean_[c] * scale;
      blend.wa.push_back(p.weight * scale);
      blend.wb.push_back((1.0f - p.weight) * scale);
      copy.wa.push_back(scale);
      copy.wb.push_back(0.0f);
      blend.bias.push_back(bias);
      copy.bias.push_back(bias);
    }
    // Element strides: per pixel along a row and per channel, in and out.
    const int64_t in_x = in_chw ? 1 : C, in_c = in_chw ? H * W : 1;
    const int64_t out_x = out_chw ? 1 : C, out_c = out_chw ? H * W : 1;
    const int64_t in_row = in_chw ? W : W * C, out_row = out_chw ? W : W * C;
    auto run = [&](int64_t y, int64_t x0, int64_t x1, const In *a, const In *b, const Weights &w) {
      if (x1 <= x0) return;
      const In *ra = a + y * in_row + x0 * in_x, *rb = b ? b + y * in_row + x0 * in_x : nullptr;
      Out *ro = out + y * out_row + x0 * out_x;
      if (!in_chw && out_chw && C == 3)
        RunHwc3ToChw(ra, rb, ro, H * W, x1 - x0, w);
      else if (!in_chw && !out_chw && mean_.empty())
        RunFlat(ra, rb, ro, (x1 - x0) * C, w);
      else if (in_chw && out_chw && mean_.empty())
        for (int c = 0; c < C; c++)
          RunFlat(ra + c * in_c, rb ? rb + c * in_c : nullptr, ro + c * out_c, x1 - x0, w);
      else
        RunGeneric(ra, rb, ro, x1 - x0, C, in_x, in_c, out_x, out_c, w);
    };
    const int top = p.box[0], left = p.box[1], bottom = p.box[0] + p.box[2], right = p.box[1] + p.box[3];
    for (int64_t y = 0; y < H; y++) {
      if (p.cut && y >= top && y < bottom) {
        run(y, 0, left, own, nullptr, copy);
        run(y, left, right, other, nullptr, copy);
        run(y, right, W, own, nullptr, copy);
      } else if (!p.cut && p.weight != 1.0f) {
        run(y, 0, W, own, other, blend);
      } else {  // not mixed, or outside the box: the own pixels
        run(y, 0, W, own, nullptr, copy);
      }
    }
  }

  void MixImage(const TensorList<CPUBackend> &images, TensorList<CPUBackend> &out,
                const std::vector<Sample> &samples, int i) const {
    const auto &shape = images.tensor_shape(i);
    const bool chw = in_layout_ == "CHW";
    const int64_t H = shape[chw ? 1 : 0], W = shape[chw ? 2 : 1];
    const int C = static_cast<int>(shape[chw ? 0 : 2]);
    const Sample &p = samples[i];
    auto typed = [&](auto in_tag, auto out_tag) {
      using In = decltype(in_tag);
      using Out = decltype(out_tag);
      MixRows<In, Out>(images.tensor<In>(i), images.tensor<In>(p.partner),
                       out.mutable_tensor<Out>(i), p, H, W, C);
    };
    auto with_out = [&](auto in_tag) {
      switch (dtype_) {
        case DALIDataType::DALI_UINT8: return typed(in_tag, uint8_t{});
        case DALIDataType::DALI_FLOAT16: return typed(in_tag, dali::float16{});
        default: return typed(in_tag, float{});
      }
    };
    switch (images.type()) {
      case DALIDataType::DALI_UINT8: return with_out(uint8_t{});
      case DALIDataType::DALI_FLOAT16: return with_out(dali::float16{});
      case DALIDataType::DALI_FLOAT: return with_out(float{});
      default:
        throw std::runtime_error(std::string("[dali_mixup images: expected uint8, float16 or float32, got ") +
                                 dali::GetBuiltinTypeName(images.type()) + "]");
    }
  }

  const std::string layout_, output_layout_;
  const std::vector<float> mean_, std_;
  const DALIDataType dtype_;
  std::string in_layout_, out_layout_;
};

class Mix : public dali::StatelessOperator<CPUBackend> {
 public:
  explicit Mix(const dali::OpSpec &spec)
      : dali::StatelessOperator<CPUBackend>(spec),
        num_classes_(spec.GetArgument<int>("num_classes")),
        mode_(spec.GetArgument<int>("mode")),
        mixup_(spec.GetArgument<bool>("mixup")),
        cutmix_(spec.GetArgument<bool>("cutmix")),
        switch_prob_(spec.GetArgument<float>("switch_prob")),
        correct_lam_(spec.GetArgument<bool>("correct_lam")),
        smoothing_(spec.GetArgument<float>("label_smoothing")),
        minmax_(spec.GetRepeatedArgument<float>("minmax")),
        pixels_(spec) {
    DALI_ENFORCE(num_classes_ >= 1 && mode_ >= kBatch && mode_ <= kElem && (mixup_ || cutmix_) &&
                     (minmax_.empty() || minmax_.size() == 2),
                 "num_classes >= 1, mode 0..2, mixup or cutmix, minmax empty or (lo, hi) expected");
  }

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    const auto &labels = ws.Input<CPUBackend>(1);
    const int n = images.num_samples();
    const int draws = 1 + (mixup_ && cutmix_) + (cutmix_ ? (minmax_.empty() ? 2 : 4) : 0);
    DALI_ENFORCE(ws.NumInput() == 3 + (mode_ != kPair) + mixup_ + (cutmix_ && minmax_.empty()),
                 "inputs: expected images, labels, uniform draws, then the permutation (not in "
                 "pair mode), Mixup's Beta draw (with Mixup), CutMix's (with CutMix, no minmax)");
    for (int i = 0; i < n; i++)
      DALI_ENFORCE(ws.Input<CPUBackend>(2).tensor_shape(i).num_elements() >= draws,
                   "uniform draws: expected " + std::to_string(draws) + " per sample");
    outputs.resize(6);
    outputs[0] = pixels_.Setup(images, num_classes_);
    for (int i = 0; i < n; i++) {
      const int64_t length = labels.tensor_shape(i).num_elements();
      if (length == 1) {
        const double id = std::round(ValueAt(labels, i, 0));  // NaN fails too
        if (!(id >= 0 && id < num_classes_)) Fail(kLabelRange, i, num_classes_);
      } else if (length != num_classes_) {
        Fail(kSoftLabelLength, i, num_classes_);
      }
    }
    outputs[1] = {dali::uniform_list_shape(n, dali::TensorShape<>{num_classes_}), DALIDataType::DALI_FLOAT};
    outputs[2] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_FLOAT};
    outputs[3] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_INT32};
    outputs[4] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_INT32};
    outputs[5] = {dali::uniform_list_shape(n, dali::TensorShape<>{4}), DALIDataType::DALI_INT32};
    return true;
  }

  void RunImpl(dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    const int n = images.num_samples();
    std::vector<Sample> samples = Draw(ws, n);
    WriteTargets(ws, samples);
    auto &lam = ws.Output<CPUBackend>(2);
    auto &partner = ws.Output<CPUBackend>(3);
    auto &cut = ws.Output<CPUBackend>(4);
    auto &box = ws.Output<CPUBackend>(5);
    for (int i = 0; i < n; i++) {
      *lam.mutable_tensor<float>(i) = samples[i].lam;
      *partner.mutable_tensor<int32_t>(i) = samples[i].partner;
      *cut.mutable_tensor<int32_t>(i) = samples[i].cut;
      std::copy(samples[i].box, samples[i].box + 4, box.mutable_tensor<int32_t>(i));
    }
    pixels_.Run(images, ws.Output<CPUBackend>(0), samples, ws.GetThreadPool());
  }

 private:
  // The parameters of every sample, as dali_mixup.params draws them (same float32 steps).
  std::vector<Sample> Draw(const dali::Workspace &ws, int n) const {
    if (n == 0) return {};
    int next = 3;
    const TensorList<CPUBackend> &uniform = ws.Input<CPUBackend>(2);
    const TensorList<CPUBackend> *perm = mode_ == kPair ? nullptr : &ws.Input<CPUBackend>(next++);
    const TensorList<CPUBackend> *beta_mix = mixup_ ? &ws.Input<CPUBackend>(next++) : nullptr;
    const TensorList<CPUBackend> *beta_cut =
        cutmix_ && minmax_.empty() ? &ws.Input<CPUBackend>(next++) : nullptr;
    const std::array<float, 2> size = pixels_.Size(ws.Input<CPUBackend>(0));
    const bool both = mixup_ && cutmix_;
    std::vector<Sample> samples(n);
    for (int i = 0; i < n; i++) {
      // Draws shared per batch (sample 0's) or per pair (sample min(i, n-1-i)'s).
      const int s = mode_ == kBatch ? 0 : mode_ == kPair ? std::min(i, n - 1 - i) : i;
      const float *u = uniform.tensor<float>(s);
      const float prob = spec_.GetArgument<float>("prob", &ws, i);
      const int gather = mode_ == kPair ? n - 1 - i : perm->tensor<int32_t>(i)[0];
      bool mixed = u[0] < prob;
      if (n == 1 || (mode_ == kPair && n % 2 == 1 && i == n / 2)) mixed = false;
      const bool cut = mixed && cutmix_ && (!both || u[1] < switch_prob_);
      const bool blend = mixed && mixup_ && !cut;
      Sample &out = samples[i];
      out.partner = mixed ? gather : i;
      out.cut = cut;
      out.weight = blend ? beta_mix->tensor<float>(s)[0] : 1.0f;
      out.lam = out.weight;
      std::fill(out.box, out.box + 4, 0);
      if (!cutmix_) continue;
      const float *v = u + 1 + both;  // the box draws
      float top_left[2], sides[2];
      const float lam_cut = beta_cut ? beta_cut->tensor<float>(s)[0] : 0.0f;
      for (int k = 0; k < 2; k++) {
        if (!minmax_.empty()) {
          const float low = std::floor(size[k] * minmax_[0]);
          sides[k] = low + std::floor(v[k] * (std::floor(size[k] * minmax_[1]) - low));
          top_left[k] = std::floor(v[2 + k] * (size[k] - sides[k]));
        } else {
          // Side sqrt(1 - lam) of the image's, centred uniformly, clipped; halves rounded down.
          const float half = std::floor(std::floor(size[k] * std::sqrt(1.0f - lam_cut)) * 0.5f);
          const float centre = std::floor(v[k] * size[k]);
          top_left[k] = std::max(centre - half, 0.0f);
          sides[k] = std::min(centre + half, size[k]) - top_left[k];
        }
        if (!cut) sides[k] = 0.0f;
      }
      if (cut) {
        if (correct_lam_ || !minmax_.empty())
          out.lam = out.lam - sides[0] * sides[1] / (size[0] * size[1]);
        else
          out.lam = out.lam + (lam_cut - 1.0f);
      }
      for (int k = 0; k < 2; k++) {
        out.box[k] = static_cast<int>(top_left[k]);
        out.box[2 + k] = static_cast<int>(sides[k]);
      }
    }
    return samples;
  }

  // Smoothed one-hot (or soft) targets of the sample and its partner, mixed by lam.
  void WriteTargets(dali::Workspace &ws, const std::vector<Sample> &samples) const {
    const auto &labels = ws.Input<CPUBackend>(1);
    auto &targets = ws.Output<CPUBackend>(1);
    const int n = labels.num_samples();
    // As the Python side computes them: in double, then float32.
    const float keep = static_cast<float>(1.0 - static_cast<double>(smoothing_));
    const float off = static_cast<float>(static_cast<double>(smoothing_) / num_classes_);
    std::vector<float> smooth(static_cast<size_t>(n) * num_classes_);
    for (int i = 0; i < n; i++) {
      float *t = &smooth[static_cast<size_t>(i) * num_classes_];
      if (labels.tensor_shape(i).num_elements() == 1) {
        std::fill(t, t + num_classes_, 0.0f);
        t[static_cast<int>(std::round(ValueAt(labels, i, 0)))] = 1.0f;
      } else {
        for (int k = 0; k < num_classes_; k++) t[k] = static_cast<float>(ValueAt(labels, i, k));
      }
      if (smoothing_ > 0)
        for (int k = 0; k < num_classes_; k++) t[k] = t[k] * keep + off;
    }
    for (int i = 0; i < n; i++) {
      const float lam = samples[i].lam;
      const float *a = &smooth[static_cast<size_t>(i) * num_classes_];
      const float *b = &smooth[static_cast<size_t>(samples[i].partner) * num_classes_];
      float *t = targets.mutable_tensor<float>(i);
      for (int k = 0; k < num_classes_; k++) t[k] = a[k] * lam + b[k] * (1.0f - lam);
    }
  }

  const int num_classes_, mode_;
  const bool mixup_, cutmix_;
  const float switch_prob_;
  const bool correct_lam_;
  const float smoothing_;
  const std::vector<float> minmax_;
  Pixels pixels_;
};

// Normalization alone (no mixing): the pixel pass of Mix with every sample kept as it is.
class Normalize : public dali::StatelessOperator<CPUBackend> {
 public:
  explicit Normalize(const dali::OpSpec &spec) : dali::StatelessOperator<CPUBackend>(spec), pixels_(spec) {}

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    outputs.resize(1);
    outputs[0] = pixels_.Setup(ws.Input<CPUBackend>(0), 0);
    return true;
  }

  void RunImpl(dali::Workspace &ws) override {
    const auto &images = ws.Input<CPUBackend>(0);
    std::vector<Sample> samples(images.num_samples());
    for (int i = 0; i < images.num_samples(); i++) samples[i] = {i, false, 1.0f, 1.0f, {0, 0, 0, 0}};
    pixels_.Run(images, ws.Output<CPUBackend>(0), samples, ws.GetThreadPool());
  }

 private:
  Pixels pixels_;
};

}  // namespace dali_mixup

DALI_REGISTER_OPERATOR(DaliMixupMix, ::dali_mixup::Mix, ::dali::CPU);

DALI_SCHEMA(DaliMixupMix)
    .DocStr("dali_mixup's mixing stage on the CPU in one pass (see dali_mixup.stage.mix).")
    .NumInput(3, 6)
    .NumOutput(6)
    .MakeStateless()
    .AddArg("num_classes", "Classes in the targets.", ::dali::DALIDataType::DALI_INT32)
    .AddArg("mode", "0 batch, 1 pair, 2 elem.", ::dali::DALIDataType::DALI_INT32)
    .AddArg("mixup", "Mixup on.", ::dali::DALIDataType::DALI_BOOL)
    .AddArg("cutmix", "CutMix on.", ::dali::DALIDataType::DALI_BOOL)
    .AddArg("switch_prob", "Chance of CutMix when both are on.", ::dali::DALIDataType::DALI_FLOAT)
    .AddArg("correct_lam", "CutMix lam from the clipped box.", ::dali::DALIDataType::DALI_BOOL)
    .AddArg("label_smoothing", "Label smoothing.", ::dali::DALIDataType::DALI_FLOAT)
    .AddOptionalArg("prob", "Chance of mixing, per sample.", 1.0f, true)
    .AddOptionalArg("minmax", "CutMix box side fractions (lo, hi), or empty.", std::vector<float>{})
    .AddParent("DaliMixupNormalize");

DALI_REGISTER_OPERATOR(DaliMixupNormalize, ::dali_mixup::Normalize, ::dali::CPU);

DALI_SCHEMA(DaliMixupNormalize)
    .DocStr("dali_mixup's normalization on the CPU in one pass (see dali_mixup.stage.normalize).")
    .NumInput(1)
    .NumOutput(1)
    .MakeStateless()
    .AddOptionalArg("layout", "HWC or CHW; empty: the input's.", std::string())
    .AddOptionalArg("output_layout", "HWC or CHW; empty: the input's.", std::string())
    .AddOptionalArg("mean", "Per-channel mean subtracted (empty: no normalization).", std::vector<float>{})
    .AddOptionalArg("std", "Per-channel divisor (with mean).", std::vector<float>{})
    .AddOptionalTypeArg("dtype", "Output type.", ::dali::DALIDataType::DALI_FLOAT);
