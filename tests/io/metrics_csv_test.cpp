#include "io/metrics_csv.h"

#include "errors/error.h"
#include "io/csv.h"
#include "io/fs.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

namespace ibzoo::io {
namespace {

namespace fs = std::filesystem;

fs::path temp_file(const std::string& name) { return fs::temp_directory_path() / ("ibzoo_metrics_csv_" + name); }

const std::vector<MetricRow> kRows = {
    {"org/m-1", "pythia", "step1000", 1000, "0", "", "entropy", 0.5},
    {"org/m-1", "pythia", "step1000", 1000, "3", "in1", "mutual_information", 0.25},
    {"org/m-1", "pythia", "step1000", 1000, "mean", "out1", "mutual_information", std::nan("")},
    {"org/m-1", "pythia", "step1000", 1000, "", "", "n_parameters", 1.6e8},
};

TEST(MetricsCsvTest, WritesANumericLayerAScopeAndNoEmptyLabelSet) {
  const auto path = temp_file("layout.csv");
  write_metrics_csv(path, kRows);
  const auto t = read_csv(path);
  EXPECT_EQ(format_csv_row(t.header), std::string(kMetricsHeader) + "\n");
  std::vector<std::vector<std::string>> keys;
  for (const auto& r : t.rows) keys.push_back({r[4], r[5], r[8]});
  EXPECT_EQ(keys, (std::vector<std::vector<std::string>>{
                      {"0", "none", "layer"}, {"3", "in1", "layer"}, {"-1", "out1", "layer_mean"}, {"-1", "none", "model"}}));
  EXPECT_EQ(t.rows[2][7], "nan");
  fs::remove(path);
}

TEST(MetricsCsvTest, ReadsBackTheSameRows) {
  const auto path = temp_file("roundtrip.csv");
  write_metrics_csv(path, kRows);
  const auto back = read_metrics_csv(path);
  ASSERT_EQ(back.size(), kRows.size());
  for (std::size_t i = 0; i < kRows.size(); ++i) {
    if (std::isnan(kRows[i].value)) {
      EXPECT_TRUE(std::isnan(back[i].value));
      auto a = back[i], b = kRows[i];
      a.value = b.value = 0;
      EXPECT_EQ(a, b);
    } else {
      EXPECT_EQ(back[i], kRows[i]);
    }
  }
  fs::remove(path);
}

TEST(MetricsCsvTest, ReadsTheEarlierLayoutAndCrlfLineEnds) {
  const auto path = temp_file("v1.csv");
  write_file_atomic(path, std::string(kMetricsHeaderV1) + "\r\nm,f,final,0,mean,,optimality,0.5\r\nm,f,final,0,2,in1,"
                                                          "mutual_information,0.1\r\n");
  const auto rows = read_metrics_csv(path);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (MetricRow{"m", "f", "final", 0, "mean", "", "optimality", 0.5}));
  EXPECT_EQ(rows[1].layer, "2");
  fs::remove(path);
}

TEST(MetricsCsvTest, BadScopeOrHeaderNamesTheLine) {
  const auto path = temp_file("bad.csv");
  write_file_atomic(path, std::string(kMetricsHeader) + "\nm,f,final,0,-1,none,entropy,0.5,average\n");
  try {
    read_metrics_csv(path);
    FAIL();
  } catch (const CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: 'scope' must be layer, layer_mean or model"), std::string::npos)
        << e.what();
  }
  write_file_atomic(path, "model,layer\nm,1\n");
  EXPECT_THROW(read_metrics_csv(path), CorruptDataError);
  fs::remove(path);
}

}  // namespace
}  // namespace ibzoo::io
