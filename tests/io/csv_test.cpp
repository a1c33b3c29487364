#include "io/csv.h"

#include "errors/error.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace ibzoo::io {
namespace {

void expect_error(const std::string& text, const std::string& key_words) {
  try {
    parse_csv(text, "t.csv");
    FAIL() << "expected CorruptDataError for: " << text;
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find(key_words), std::string::npos) << e.what();
  }
}

TEST(CsvTest, ParsesQuotedCommasQuotesAndLineBreaks) {
  const auto t = parse_csv("\xEF\xBB\xBF" "a,b,c\r\n1,\"x, \"\"y\"\"\",\"two\nlines\"\r\n\n3,,z\n", "t.csv");
  EXPECT_EQ(t.header, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0][1], "x, \"y\"");
  EXPECT_EQ(t.rows[0][2], "two\nlines");
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"3", "", "z"}));
  EXPECT_EQ(t.where(1), "t.csv:5");
  EXPECT_EQ(t.column("c"), 2u);
  EXPECT_FALSE(t.column("d").has_value());
}

TEST(CsvTest, ReadsAnExcelStyleFileWithBomCrlfAndSpacesKept) {
  // What Excel's "CSV UTF-8" export writes: a BOM, CRLF after every record, quotes only where needed.
  const auto t = parse_csv("\xEF\xBB\xBFmodel,benchmark,score\r\n org/m ,\"MMLU, 5-shot\",61.5\r\n\r\nb,c,\r\n",
                           "excel.csv");
  EXPECT_EQ(t.header.at(0), "model");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{" org/m ", "MMLU, 5-shot", "61.5"}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"b", "c", ""}));
  EXPECT_EQ(t.where(1), "excel.csv:4");
}

TEST(CsvTest, FormattedRowsParseBackToTheSameFields) {
  const std::vector<std::string> fields = {"plain", "with,comma", "with \"quote\"", "line\nbreak", "", " padded "};
  const auto t = parse_csv(format_csv_row({"a", "b", "c", "d", "e", "f"}) + format_csv_row(fields), "t.csv");
  EXPECT_EQ(t.rows.at(0), fields);
}

TEST(CsvTest, WritesAtomicallyAndReadsBack) {
  const auto path = std::filesystem::temp_directory_path() / "ibzoo_csv_test.csv";
  write_csv(path, {"x", "y"}, {{"1", "a,b"}});
  const auto t = read_csv(path);
  EXPECT_EQ(t.rows.at(0).at(1), "a,b");
  std::filesystem::remove(path);
}

TEST(CsvTest, MalformedInputNamesTheLineAndTheProblem) {
  expect_error("a,b\n1,2,3\n", "t.csv:2: expected 2 fields (as in the header), found 3");
  expect_error("a,b\n1,\"open\n", "t.csv:2: a quoted field is never closed");
  expect_error("a,b\n\"x\"y,2\n", "t.csv:2: malformed quoting at 'y'");
  expect_error("a,b\n1,2\n3,x\"y\n", "t.csv:3: malformed quoting");
  expect_error("", "t.csv: the file is empty");
}

}  // namespace
}  // namespace ibzoo::io
