// Run-time checks of the stage's operators and how a failed one is reported.
//
// A failed check throws a short tag that dali_mixup.errors turns into a plain Python error; the
// codes must match dali_mixup.errors.Check (a test ties the two together).
#ifndef DALI_MIXUP_COMMON_CHECKS_H_
#define DALI_MIXUP_COMMON_CHECKS_H_

#include <sstream>
#include <stdexcept>
#include <string>

namespace dali_mixup {

enum Check : int {
  kLayout = 1,
  kSameShape = 2,
  kLabelRange = 3,
  kSoftLabelLength = 4,
  kNormChannels = 6,
  kEmpty = 7,
};

// Throws "[dali_mixup check=K sample=S num_classes=C]".
[[noreturn]] inline void Fail(Check check, int sample, int num_classes) {
  std::ostringstream text;
  text << "[dali_mixup check=" << static_cast<int>(check) << " sample=" << sample
       << " num_classes=" << num_classes << "]";
  throw std::runtime_error(text.str());
}

// Throws "[dali_mixup WHAT: TEXT]" for an input of a type the operator does not take.
[[noreturn]] inline void FailType(const std::string &what, const std::string &text) {
  throw std::runtime_error("[dali_mixup " + what + ": " + text + "]");
}

}  // namespace dali_mixup

#endif  // DALI_MIXUP_COMMON_CHECKS_H_
