#include "zoo/tasks.h"

#include "errors/error.h"
#include "io/fs.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

namespace fs = std::filesystem;
using namespace ibzoo::zoo;

namespace {

class TasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ibzoo_tasks_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
                                        "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::string text;
    for (int ch = 0; ch < 3; ++ch) {
      for (int v = 0; v < 12; ++v) {
        const std::string vv(1, static_cast<char>('a' + v));
        const std::string cc(1, static_cast<char>('a' + ch));
        text += "And the servant number" + vv + " of chapter" + cc + " went forth unto the river" + vv + cc +
                " and spake words" + vv + "\n";
      }
      text += "\n";
    }
    ibzoo::io::write_file_atomic(dir_ / "heldout.txt", text);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& name, const std::string& content) { ibzoo::io::write_file_atomic(dir_ / name, content); }
  fs::path dir_;
};

TEST_F(TasksTest, MakesEveryTaskWithGoldAmongDistinctChoices) {
  const auto result = make_tasks({dir_ / "heldout.txt", dir_ / "tasks", 25, 4, 3});
  ASSERT_EQ(result.files.size(), task_names().size());
  for (std::size_t t = 0; t < result.files.size(); ++t) {
    EXPECT_EQ(result.files[t].stem().string(), task_names()[t]);
    const auto items = read_task_file(result.files[t]);
    EXPECT_EQ(static_cast<std::int64_t>(items.size()), result.n_items[t]);
    EXPECT_EQ(items.size(), 25u);
    for (const auto& it : items) {
      ASSERT_EQ(it.choices.size(), 4u);
      EXPECT_GE(it.gold, 0);
      EXPECT_LT(it.gold, 4);
      EXPECT_EQ(std::set<std::string>(it.choices.begin(), it.choices.end()).size(), 4u) << it.context;
    }
  }
}

TEST_F(TasksTest, NextWordsGoldCompletesTheVerse) {
  const auto result = make_tasks({dir_ / "heldout.txt", dir_ / "tasks", 10, 3, 1});
  const auto items = read_task_file(dir_ / "tasks" / "kjv_next_words.jsonl");
  const std::string text = ibzoo::io::read_file(dir_ / "heldout.txt");
  for (const auto& it : items) {
    const auto verse = it.context + it.choices[static_cast<std::size_t>(it.gold)];
    EXPECT_NE(text.find(verse + "\n"), std::string::npos) << verse;
    EXPECT_EQ(it.choices[static_cast<std::size_t>(it.gold)].front(), ' ');
  }
}

TEST_F(TasksTest, NextVerseGoldIsTheFollowingLine) {
  make_tasks({dir_ / "heldout.txt", dir_ / "tasks", 10, 4, 2});
  const std::string text = ibzoo::io::read_file(dir_ / "heldout.txt");
  for (const auto& it : read_task_file(dir_ / "tasks" / "kjv_next_verse.jsonl")) {
    EXPECT_NE(text.find(it.context + it.choices[static_cast<std::size_t>(it.gold)] + "\n"), std::string::npos);
  }
}

TEST_F(TasksTest, SameSeedSameBytesOtherSeedOtherItems) {
  make_tasks({dir_ / "heldout.txt", dir_ / "a", 20, 4, 5});
  make_tasks({dir_ / "heldout.txt", dir_ / "b", 20, 4, 5});
  make_tasks({dir_ / "heldout.txt", dir_ / "c", 20, 4, 6});
  for (const auto& name : task_names()) {
    const auto a = ibzoo::io::read_file(dir_ / "a" / (name + ".jsonl"));
    EXPECT_EQ(a, ibzoo::io::read_file(dir_ / "b" / (name + ".jsonl")));
    EXPECT_NE(a, ibzoo::io::read_file(dir_ / "c" / (name + ".jsonl")));
  }
}

TEST_F(TasksTest, WriteThenReadRoundTrips) {
  const std::vector<TaskItem> items = {{"ctx \"quoted\"", {" a", " b\nc"}, 1}, {"", {"x", "y", "z"}, 0}};
  write_task_file(dir_ / "t.jsonl", items);
  EXPECT_EQ(read_task_file(dir_ / "t.jsonl"), items);
}

void expect_error(const fs::path& path, const std::string& key_words) {
  try {
    read_task_file(path);
    FAIL() << "no error for " << path;
  } catch (const ibzoo::CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find(key_words), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.filename().string()), std::string::npos) << e.what();
  }
}

TEST_F(TasksTest, BadTaskFilesNameTheLineAndTheField) {
  write("bad_json.jsonl", "{\"context\": \"a\", \"choices\": [\"x\", \"y\"], \"gold\": 0}\n{nope\n");
  expect_error(dir_ / "bad_json.jsonl", ":2: not valid JSON");
  write("gold.jsonl", "{\"context\": \"a\", \"choices\": [\"x\", \"y\"], \"gold\": 2}\n");
  expect_error(dir_ / "gold.jsonl", "'gold' must be an integer index");
  write("choices.jsonl", "{\"context\": \"a\", \"choices\": [\"x\"], \"gold\": 0}\n");
  expect_error(dir_ / "choices.jsonl", "'choices' must be a list of at least 2");
  write("context.jsonl", "{\"choices\": [\"x\", \"y\"], \"gold\": 0}\n");
  expect_error(dir_ / "context.jsonl", "'context' must be a string");
  write("empty.jsonl", "\n");
  expect_error(dir_ / "empty.jsonl", "no items");
  EXPECT_THROW(read_task_file(dir_ / "missing.jsonl"), ibzoo::MissingInputError);
}

TEST_F(TasksTest, TooLittleTextForTheChoicesIsAClearError) {
  write("tiny.txt", "one two three four five six seven eight nine\n");
  try {
    make_tasks({dir_ / "tiny.txt", dir_ / "tasks", 5, 4, 0});
    FAIL() << "no error";
  } catch (const ibzoo::CorruptDataError& e) {
    EXPECT_NE(std::string(e.what()).find("held-out text"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_tasks({dir_ / "nothing.txt", dir_ / "tasks", 5, 4, 0}), ibzoo::MissingInputError);
}

}  // namespace
