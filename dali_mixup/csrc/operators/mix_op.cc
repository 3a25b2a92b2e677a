// The stage's operators on the CPU: the pixel pass in DALI's thread pool, one image per task;
// and both operators' schemas (the GPU library registers only its backends).

#include "mix_op.h"

#include <algorithm>

#include "dali/pipeline/util/thread_pool.h"

namespace dali_mixup {

namespace {

// Writes every sample's output image, one sample per task of the pool.
void MixPixels(const ImageSpec &spec, const TensorList<CPUBackend> &images, TensorList<CPUBackend> &out,
               const std::vector<kernels::Sample> &samples, dali::ThreadPool &pool) {
  out.SetLayout(spec.out_layout());
  const kernels::Normalization norm = spec.HostNormalization();
  for (int i = 0; i < images.num_samples(); i++) {
    pool.AddWork([&, i](int) {
      TypeSwitch(images.type(), spec.dtype(), [&](auto in_tag, auto out_tag) {
        using In = decltype(in_tag);
        using Out = decltype(out_tag);
        kernels::MixImageCpu(images.tensor<In>(i), images.tensor<In>(samples[i].partner),
                             out.mutable_tensor<Out>(i), spec.geometry(), samples[i], norm);
      });
    });
  }
  pool.RunAll();
}

}  // namespace

template <>
void Mix<CPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<CPUBackend>(0);
  const int n = images.num_samples();
  const std::vector<kernels::Sample> samples = Samples(ws);
  const std::vector<float> targets = recipe_.Targets(ws, samples);
  const int classes = recipe_.num_classes();
  auto &out_targets = ws.Output<CPUBackend>(1);
  auto &lam = ws.Output<CPUBackend>(2);
  auto &partner = ws.Output<CPUBackend>(3);
  auto &cut = ws.Output<CPUBackend>(4);
  auto &box = ws.Output<CPUBackend>(5);
  for (int i = 0; i < n; i++) {
    std::copy_n(&targets[static_cast<size_t>(i) * classes], classes, out_targets.mutable_tensor<float>(i));
    *lam.mutable_tensor<float>(i) = samples[i].lam;
    *partner.mutable_tensor<int32_t>(i) = samples[i].partner;
    *cut.mutable_tensor<int32_t>(i) = samples[i].cut;
    std::copy_n(samples[i].box, 4, box.mutable_tensor<int32_t>(i));
  }
  MixPixels(images_, images, ws.Output<CPUBackend>(0), samples, ws.GetThreadPool());
}

template <>
void Normalize<CPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<CPUBackend>(0);
  MixPixels(images_, images, ws.Output<CPUBackend>(0), Unmixed(images.num_samples()), ws.GetThreadPool());
}

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupMix, ::dali_mixup::Mix<CPUBackend>, CPU);

DALI_SCHEMA(DaliMixupMix)
    .DocStr("dali_mixup's mixing stage in one pass (see dali_mixup.stage.mix).")
    .NumInput(3, 6)
    .InputDevice(1, 6, InputDevice::CPU)
    .NumOutput(6)
    .MakeStateless()
    .AddArg("num_classes", "Classes in the targets.", DALIDataType::DALI_INT32)
    .AddArg("mode", "0 batch, 1 pair, 2 elem.", DALIDataType::DALI_INT32)
    .AddArg("mixup", "Mixup on.", DALIDataType::DALI_BOOL)
    .AddArg("cutmix", "CutMix on.", DALIDataType::DALI_BOOL)
    .AddArg("switch_prob", "Chance of CutMix when both are on.", DALIDataType::DALI_FLOAT)
    .AddArg("correct_lam", "CutMix lam from the clipped box.", DALIDataType::DALI_BOOL)
    .AddArg("label_smoothing", "Label smoothing.", DALIDataType::DALI_FLOAT)
    .AddOptionalArg("prob", "Chance of mixing, per sample.", 1.0f, true)
    .AddOptionalArg("samples", "Real samples at the start of the batch, the same value for every "
                    "sample (the rest are a reader's padding, never mixed); -1: all.", -1, true)
    .AddOptionalArg("minmax", "CutMix box side fractions 'lo,hi' as decimal text, read as doubles; "
                    "empty: the box from CutMix's Beta draw.", std::string())
    .AddParent("DaliMixupNormalize");

DALI_REGISTER_OPERATOR(DaliMixupNormalize, ::dali_mixup::Normalize<CPUBackend>, CPU);

DALI_SCHEMA(DaliMixupNormalize)
    .DocStr("dali_mixup's normalization in one pass (see dali_mixup.normalization.normalize).")
    .NumInput(1)
    .NumOutput(1)
    .MakeStateless()
    .AddOptionalArg("layout", "HWC or CHW; empty: the input's.", std::string())
    .AddOptionalArg("output_layout", "HWC or CHW; empty: the input's.", std::string())
    .AddOptionalArg("mean", "Per-channel mean subtracted (empty: no normalization).", std::vector<float>{})
    .AddOptionalArg("std", "Per-channel divisor (with mean).", std::vector<float>{})
    .AddOptionalTypeArg("dtype", "Output type.", DALIDataType::DALI_FLOAT);

}  // namespace dali
