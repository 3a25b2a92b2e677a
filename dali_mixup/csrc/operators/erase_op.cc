// DaliMixupErase on the CPU: each image copied and its boxes filled in one task of DALI's
// thread pool; and the operator's schema (the GPU library registers only its backend).

#include <cstring>

#include "dali/pipeline/util/thread_pool.h"
#include "erase_op.h"

namespace dali_mixup {

namespace {

// Copies one image and fills its boxes, in order.
template <typename T>
void EraseImage(const T *in, T *out, int64_t elements, const ErasePlan &plan, int mode) {
  std::memcpy(out, in, elements * sizeof(T));
  const kernels::EraseGeometry &g = plan.geometry;
  for (const PlacedBox &placed : plan.boxes) {
    const kernels::EraseBox &b = placed.box;
    const int groups = kernels::RowGroups(b.width);
    for (int c = 0; c < g.channels; c++) {
      // One color per channel and box, drawn once rather than per group.
      const float color = mode == kernels::kEraseRand ? kernels::BoxColor(plan.key, placed.slot, c) : 0.0f;
      for (int dy = 0; dy < b.height; dy++)
        for (int group = 0; group < groups; group++)
          kernels::FillGroup(out, g, b, placed.slot, mode, plan.key, color, c, dy, group, StoreAs<T>{});
    }
  }
}

}  // namespace

template <>
void Erase<CPUBackend>::RunImpl(dali::Workspace &ws) {
  const auto &images = ws.Input<CPUBackend>(0);
  auto &out = ws.Output<CPUBackend>(0);
  out.SetLayout(layout_used_);
  auto &pool = ws.GetThreadPool();
  const bool half = images.type() == DALIDataType::DALI_FLOAT16;
  for (int i = 0; i < images.num_samples(); i++) {
    const int64_t elements = images.tensor_shape(i).num_elements();
    // Larger images first: the pool runs the highest priority first, which balances its threads.
    pool.AddWork(
        [&, i, elements, half](int) {
          if (half)
            EraseImage(images.tensor<dali::float16>(i), out.mutable_tensor<dali::float16>(i), elements, plans_[i],
                       mode_);
          else
            EraseImage(images.tensor<float>(i), out.mutable_tensor<float>(i), elements, plans_[i], mode_);
        },
        elements);
  }
  pool.RunAll();
}

}  // namespace dali_mixup

namespace dali {

DALI_REGISTER_OPERATOR(DaliMixupErase, ::dali_mixup::Erase<CPUBackend>, CPU);

DALI_SCHEMA(DaliMixupErase)
    .DocStr("timm's RandomErasing on float32/float16 HWC or CHW images (see dali_mixup.erasing).")
    .NumInput(4)
    .InputDevice(1, 4, InputDevice::CPU)
    .NumOutput(1)
    .MakeStateless()
    .AddOptionalArg("layout", "HWC or CHW; empty: the images' own.", std::string())
    .AddOptionalArg("mode", "0 const (zeros), 1 rand (a normal value per channel and box), 2 pixel (per element).",
                    0)
    .AddOptionalArg("min_area", "Smallest box area as a fraction of the image; decimal text, read as a double.",
                    std::string("0.02"))
    .AddOptionalArg("max_area", "Largest box area as a fraction of the image; decimal text, read as a double.",
                    std::string("0.3333333333333333"))
    .AddOptionalArg("min_aspect", "Smallest height / width; decimal text, read as a double.", std::string("0.3"))
    .AddOptionalArg("max_aspect", "Largest height / width; decimal text, read as a double.",
                    std::string("3.3333333333333335"));

}  // namespace dali
