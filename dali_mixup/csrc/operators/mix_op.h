// The stage's operators, shared by both backends: DaliMixupMix (parameters, targets and
// pixels of a mixed batch in one pass) and DaliMixupNormalize (the same pixel pass without
// mixing). Arguments, input checks, output shapes and every per-sample parameter are computed
// here, on the host, for the CPU (mix_op.cc) and the GPU (mix_op.cu) alike; only the pixel
// loops differ.
//
// Randomness comes from DALI's seeded operators, given as inputs; the operators have no state.
//
// Inputs: images (CPU, or GPU for the GPU backend; HWC or CHW; uint8/float16/float32; one shape
// per batch), then, always on the CPU: labels (class id: 1 element; soft: num_classes elements),
// uniform draws (float32 vector, kernels::UniformDraws of them), the partner permutation (int32
// scalar; not in pair mode), Mixup's Beta draw (float32 (1,); with Mixup), CutMix's Beta draw
// (float32 (1,); with CutMix and no minmax). Argument inputs: prob (float32 per sample), samples
// (int32 per sample: the real samples at the start of the batch; -1: all).
// Outputs, on the images' device: images, targets float32 (num_classes,), lam float32 (),
// partner int32 (), cutmix int32 (), box int32 (4,) (top, left, height, width).
#ifndef DALI_MIXUP_OPERATORS_MIX_OP_H_
#define DALI_MIXUP_OPERATORS_MIX_OP_H_

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "../common/checks.h"
#include "dali/core/float16.h"
#include "dali/pipeline/operator/checkpointing/stateless_operator.h"
#include "dali/pipeline/operator/operator.h"
#include "../kernels/mix_cpu.h"
#include "../kernels/mix_params.h"
#include "../kernels/targets.h"

namespace dali_mixup {

using dali::CPUBackend;
using dali::DALIDataType;
using dali::TensorList;

// Element k of sample i of a numeric batch (CPU), as double.
inline double ValueAt(const TensorList<CPUBackend> &batch, int i, int64_t k) {
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
      FailType("labels", std::string("expected numbers, got type ") + dali::GetBuiltinTypeName(batch.type()));
  }
}

// Calls f(In{}, Out{}) with the batch's element types: In from the images, Out from `dtype`.
template <typename F>
void TypeSwitch(DALIDataType in, DALIDataType out, F &&f) {
  auto with_out = [&](auto in_tag) {
    switch (out) {
      case DALIDataType::DALI_UINT8: return f(in_tag, uint8_t{});
      case DALIDataType::DALI_FLOAT16: return f(in_tag, dali::float16{});
      default: return f(in_tag, float{});
    }
  };
  switch (in) {
    case DALIDataType::DALI_UINT8: return with_out(uint8_t{});
    case DALIDataType::DALI_FLOAT16: return with_out(dali::float16{});
    case DALIDataType::DALI_FLOAT: return with_out(float{});
    default:
      FailType("images", std::string("expected uint8, float16 or float32, got ") + dali::GetBuiltinTypeName(in));
  }
}

// Comma-separated decimal numbers as doubles (DALI's arguments hold no doubles; timm's box
// formulas take Python floats, and their float32 roundings can change int(S * lo)).
inline std::vector<double> ParseNumbers(const std::string &text) {
  std::vector<double> numbers;
  const char *at = text.c_str();
  while (*at) {
    char *end = nullptr;
    numbers.push_back(std::strtod(at, &end));
    DALI_ENFORCE(end != at && (*end == ',' || *end == '\0'), "minmax: expected 'lo,hi' as decimal numbers, got '" + text + "'");
    at = *end == ',' ? end + 1 : end;
  }
  return numbers;
}

// The image side of both operators: layouts, normalization, output type, per-batch checks.
class ImageSpec {
 public:
  explicit ImageSpec(const dali::OpSpec &spec)
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
    for (size_t c = 0; c < mean_.size(); c++) {
      scale_.push_back(1.0f / std_[c]);
      bias_.push_back(-mean_[c] * scale_.back());
    }
  }

  // Checks the batch (num_classes only goes into a failure's tag) and describes the output.
  template <typename Backend>
  dali::OutputDesc Setup(const TensorList<Backend> &images, int num_classes) {
    const int n = images.num_samples();
    const DALIDataType type = images.type();
    if (n > 0 && type != DALIDataType::DALI_UINT8 && type != DALIDataType::DALI_FLOAT16 &&
        type != DALIDataType::DALI_FLOAT)
      FailType("images", std::string("expected uint8, float16 or float32, got ") + dali::GetBuiltinTypeName(type));
    const std::string in_layout = layout_.empty() ? std::string(images.GetLayout().c_str()) : layout_;
    for (int i = 0; i < n; i++) {
      if ((in_layout != "HWC" && in_layout != "CHW") || images.tensor_shape(i).size() != 3)
        Fail(kLayout, i, num_classes);
      if (images.tensor_shape(i) != images.tensor_shape(0)) Fail(kSameShape, i, num_classes);
      if (images.tensor_shape(i).num_elements() == 0) Fail(kEmpty, i, num_classes);
      const int64_t channels = images.tensor_shape(i)[in_layout == "CHW" ? 0 : 2];
      if (!mean_.empty() && channels != static_cast<int64_t>(mean_.size()))
        Fail(kNormChannels, i, num_classes);
    }
    out_layout_ = output_layout_.empty() ? in_layout : output_layout_;
    geometry_ = {};
    geometry_.in_chw = in_layout == "CHW";
    geometry_.out_chw = out_layout_ == "CHW";
    dali::TensorListShape<> shape(n, 3);
    if (n > 0) {
      const auto &s = images.tensor_shape(0);
      geometry_.H = s[geometry_.in_chw ? 1 : 0];
      geometry_.W = s[geometry_.in_chw ? 2 : 1];
      geometry_.C = static_cast<int>(s[geometry_.in_chw ? 0 : 2]);
      const dali::TensorShape<> out = geometry_.out_chw
          ? dali::TensorShape<>{geometry_.C, geometry_.H, geometry_.W}
          : dali::TensorShape<>{geometry_.H, geometry_.W, geometry_.C};
      for (int i = 0; i < n; i++) shape.set_tensor_shape(i, out);
    }
    return {shape, dtype_};
  }

  // After Setup: the batch's geometry, the output's layout, type and normalization.
  const kernels::Geometry &geometry() const { return geometry_; }
  const std::string &out_layout() const { return out_layout_; }
  DALIDataType dtype() const { return dtype_; }
  const std::vector<float> &scale() const { return scale_; }  // empty: no normalization
  const std::vector<float> &bias() const { return bias_; }
  kernels::Normalization HostNormalization() const {
    return scale_.empty() ? kernels::Normalization{} : kernels::Normalization{scale_.data(), bias_.data()};
  }

 private:
  const std::string layout_, output_layout_;
  const std::vector<float> mean_, std_;
  const DALIDataType dtype_;
  std::vector<float> scale_, bias_;
  std::string out_layout_;
  kernels::Geometry geometry_;
};

// Everything of a mixed batch but its pixels: settings, label checks, each sample's
// parameters from the draws, and the targets. Host code, for both backends.
class MixRecipe {
 public:
  explicit MixRecipe(const dali::OpSpec &spec)
      : num_classes_(spec.GetArgument<int>("num_classes")),
        smoothing_(spec.GetArgument<float>("label_smoothing")) {
    const int mode = spec.GetArgument<int>("mode");
    const std::vector<double> minmax = ParseNumbers(spec.GetArgument<std::string>("minmax"));
    settings_.mode = static_cast<kernels::Mode>(mode);
    settings_.mixup = spec.GetArgument<bool>("mixup");
    settings_.cutmix = spec.GetArgument<bool>("cutmix");
    settings_.switch_prob = spec.GetArgument<float>("switch_prob");
    settings_.correct_lam = spec.GetArgument<bool>("correct_lam");
    settings_.minmax = !minmax.empty();
    if (minmax.size() == 2) {
      settings_.minmax_lo = minmax[0];
      settings_.minmax_hi = minmax[1];
    }
    DALI_ENFORCE(num_classes_ >= 1 && mode >= kernels::kBatch && mode <= kernels::kElem &&
                     (settings_.mixup || settings_.cutmix) && (minmax.empty() || minmax.size() == 2),
                 "num_classes >= 1, mode 0..2, mixup or cutmix, minmax empty or (lo, hi) expected");
  }

  int num_classes() const { return num_classes_; }

  // Checks the inputs other than the images (labels, draws).
  void Check(const dali::Workspace &ws) const {
    const auto &labels = ws.Input<CPUBackend>(1);
    const int n = labels.num_samples();
    const kernels::MixSettings &s = settings_;
    const int inputs = 3 + (s.mode != kernels::kPair) + s.mixup + (s.cutmix && !s.minmax);
    DALI_ENFORCE(ws.NumInput() == inputs,
                 "inputs: expected images, labels, uniform draws, then the permutation (not in "
                 "pair mode), Mixup's Beta draw (with Mixup), CutMix's (with CutMix, no minmax)");
    const int draws = kernels::UniformDraws(s);
    for (int i = 0; i < n; i++)
      DALI_ENFORCE(ws.Input<CPUBackend>(2).tensor_shape(i).num_elements() >= draws,
                   "uniform draws: expected " + std::to_string(draws) + " per sample");
    for (int i = 0; i < n; i++) {
      const int64_t length = labels.tensor_shape(i).num_elements();
      if (length == 1) {
        const double id = std::round(ValueAt(labels, i, 0));  // NaN fails too
        if (!(id >= 0 && id < num_classes_)) Fail(kLabelRange, i, num_classes_);
      } else if (length != num_classes_) {
        Fail(kSoftLabelLength, i, num_classes_);
      }
    }
  }

  // The parameters of every sample, from the draws; images of size (H, W).
  std::vector<kernels::Sample> Draw(const dali::OpSpec &spec, const dali::Workspace &ws, int H,
                                    int W) const {
    const int n = ws.Input<CPUBackend>(1).num_samples();
    if (n == 0) return {};
    const kernels::MixSettings &s = settings_;
    int next = 3;
    const TensorList<CPUBackend> &uniform = ws.Input<CPUBackend>(2);
    const TensorList<CPUBackend> *perm = s.mode == kernels::kPair ? nullptr : &ws.Input<CPUBackend>(next++);
    const TensorList<CPUBackend> *beta_mix = s.mixup ? &ws.Input<CPUBackend>(next++) : nullptr;
    const TensorList<CPUBackend> *beta_cut = s.cutmix && !s.minmax ? &ws.Input<CPUBackend>(next++) : nullptr;
    // The batch's count: every sample carries the same value; sample 0's is read.
    const int real = kernels::RealSamples(spec.GetArgument<int>("samples", &ws, 0), n);
    const int last = kernels::UniformDraws(s) - 1;
    std::vector<kernels::Sample> samples(n);
    for (int i = 0; i < n; i++) {
      const int shared = kernels::ShareIndex(s.mode, i, real);
      kernels::Draws d{};
      d.uniform = uniform.tensor<float>(shared);
      d.fallback = s.mode == kernels::kPair ? 0.0f : uniform.tensor<float>(i)[last];
      d.permutation = perm ? perm->tensor<int32_t>(i)[0] : i;
      d.beta_mixup = beta_mix ? beta_mix->tensor<float>(shared)[0] : 1.0f;
      d.beta_cutmix = beta_cut ? beta_cut->tensor<float>(shared)[0] : 0.0f;
      d.prob = spec.GetArgument<float>("prob", &ws, i);
      samples[i] = kernels::DrawSample(s, i, real, d, H, W);
    }
    return samples;
  }

  // The mixed targets, n rows of num_classes values.
  std::vector<float> Targets(const dali::Workspace &ws, const std::vector<kernels::Sample> &samples) const {
    const auto &labels = ws.Input<CPUBackend>(1);
    const int n = labels.num_samples(), classes = num_classes_;
    std::vector<float> smooth(static_cast<size_t>(n) * classes), out(smooth.size());
    for (int i = 0; i < n; i++) {
      float *row = &smooth[static_cast<size_t>(i) * classes];
      if (labels.tensor_shape(i).num_elements() == 1)
        kernels::OneHot(row, classes, static_cast<int>(std::round(ValueAt(labels, i, 0))));
      else
        for (int k = 0; k < classes; k++) row[k] = static_cast<float>(ValueAt(labels, i, k));
      kernels::Smooth(row, classes, smoothing_);
    }
    kernels::MixTargets(smooth.data(), samples.data(), n, classes, out.data());
    return out;
  }

 private:
  const int num_classes_;
  const float smoothing_;
  kernels::MixSettings settings_;
};

// Output descriptions of the per-sample parameters (targets, lam, partner, cutmix, box).
inline void ParamOutputs(std::vector<dali::OutputDesc> &outputs, int n, int num_classes) {
  outputs[1] = {dali::uniform_list_shape(n, dali::TensorShape<>{num_classes}), DALIDataType::DALI_FLOAT};
  outputs[2] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_FLOAT};
  outputs[3] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_INT32};
  outputs[4] = {dali::uniform_list_shape(n, dali::TensorShape<>{}), DALIDataType::DALI_INT32};
  outputs[5] = {dali::uniform_list_shape(n, dali::TensorShape<>{4}), DALIDataType::DALI_INT32};
}

template <typename Backend>
class Mix : public dali::StatelessOperator<Backend> {
 public:
  explicit Mix(const dali::OpSpec &spec)
      : dali::StatelessOperator<Backend>(spec), recipe_(spec), images_(spec) {}

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    outputs.resize(6);
    outputs[0] = images_.Setup(ws.template Input<Backend>(0), recipe_.num_classes());
    recipe_.Check(ws);
    ParamOutputs(outputs, ws.template Input<Backend>(0).num_samples(), recipe_.num_classes());
    return true;
  }

  void RunImpl(dali::Workspace &ws) override;

  // Each sample's parameters from the draws, after Setup.
  std::vector<kernels::Sample> Samples(const dali::Workspace &ws) const {
    const auto &g = images_.geometry();
    return recipe_.Draw(this->spec_, ws, static_cast<int>(g.H), static_cast<int>(g.W));
  }

  MixRecipe recipe_;
  ImageSpec images_;
};

template <typename Backend>
class Normalize : public dali::StatelessOperator<Backend> {
 public:
  explicit Normalize(const dali::OpSpec &spec) : dali::StatelessOperator<Backend>(spec), images_(spec) {}

 protected:
  bool SetupImpl(std::vector<dali::OutputDesc> &outputs, const dali::Workspace &ws) override {
    outputs.resize(1);
    outputs[0] = images_.Setup(ws.template Input<Backend>(0), 0);
    return true;
  }

  void RunImpl(dali::Workspace &ws) override;

  // Every sample kept as it is.
  static std::vector<kernels::Sample> Unmixed(int n) {
    std::vector<kernels::Sample> samples(n);
    for (int i = 0; i < n; i++) samples[i].partner = i;
    return samples;
  }

  ImageSpec images_;
};

}  // namespace dali_mixup

#endif  // DALI_MIXUP_OPERATORS_MIX_OP_H_
