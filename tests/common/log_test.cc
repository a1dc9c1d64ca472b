#include "sdbox/common/log.hpp"
#include "sdbox/common/result.hpp"

#include <gtest/gtest.h>

namespace sdbox {
namespace {

TEST(LogFields, RendersKeyValuePairsQuotingWhenNeeded) {
  const auto fields = log::Fields().add("box", "box-17").add("user", "Ada Lovelace").add("tries", 2).add("note", "a\"b");
  EXPECT_EQ(fields.str(), R"(box=box-17 user="Ada Lovelace" tries=2 note="a\"b")");
  EXPECT_EQ(fmt::format("{}", log::Fields().add("empty", "")), R"(empty="")");
}

TEST(ResultModel, CarriesValuesAndCategorisedErrors) {
  Result<int> good = 42;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 42);
  Result<int> bad = make_error(ErrorCategory::apdu, "wrong length", 0x6700);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().category, ErrorCategory::apdu);
  EXPECT_EQ(bad.error().describe(), "apdu: wrong length (0x6700)");
  EXPECT_THROW((void)bad.value(), std::logic_error) << "reading a failure's value is a bug";
  Status fine;
  EXPECT_TRUE(fine.ok());
  EXPECT_THROW((void)fine.error(), std::logic_error);
}

}  // namespace
}  // namespace sdbox
