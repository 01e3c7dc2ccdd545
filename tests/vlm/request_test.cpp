// gsys-vlm serve's request and reply formats (request.h): what a request
// must hold, where its images may be, and error replies that a client can
// read back.
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "support/scratch_dir.h"

#include "vlm/request.h"

namespace {

using namespace vlm;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

void touch(const std::string& path) { std::ofstream(path) << "x"; }

TEST(Request, ParsesIdTopKAndPrompt)
{
  const auto r = parse_request(
      R"({"id": 42, "top_k": 3, "prompt": {"content": [{"text": [1, 2]}, {"image": "a.bin", "grid": [1, 4, 4]}]}})",
      "/data");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.req.id, 42);
  EXPECT_EQ(r.req.top_k, 3);
  ASSERT_EQ(r.req.spec.content.size(), 2u);
  EXPECT_EQ(r.req.spec.content[1].image.file, "/data/a.bin");  // relative to the data directory
  const auto d = parse_request(R"({"id": -3, "prompt": {"content": []}})", "/data");
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.req.top_k, 5);
}

TEST(Request, RefusesMalformedRequestsWithAReason)
{
  struct {
    const char* text;
    const char* why;
  } cases[] = {
      {R"({"id": 1, "prompt": )", "unexpected end of input"},
      {R"([1, 2])", "not a JSON object"},
      {R"({"prompt": {"content": []}})", "\"id\" must be an integer"},
      {R"({"id": 1.5, "prompt": {"content": []}})", "\"id\" must be an integer"},
      {R"({"id": 1, "top_k": 0, "prompt": {"content": []}})", "\"top_k\" must be an integer in [1, 64]"},
      {R"({"id": 1, "top_k": 65, "prompt": {"content": []}})", "\"top_k\" must be an integer in [1, 64]"},
      {R"({"id": 1})", "no \"prompt\""},
      {R"({"id": 1, "prompt": {"content": [{"image": "a.bin"}]}})", "request: prompt: content[0]: \"grid\""},
  };
  for (const auto& c : cases) {
    const auto r = parse_request(c.text, "/data");
    EXPECT_FALSE(r.ok()) << c.text;
    EXPECT_TRUE(contains(r.error, c.why)) << c.text << " -> " << r.error;
  }
  // The id is known once read, so the error reply can carry it.
  EXPECT_EQ(parse_request(R"({"id": 9, "top_k": 0, "prompt": {}})", "/d").id, 9);
  EXPECT_FALSE(parse_request(R"({"top_k": 0})", "/d").id.has_value());
}

TEST(Request, ImagesMustLieInsideTheDataDirectory)
{
  gsys_test::scratch_dir dir;
  ASSERT_EQ(::mkdir(dir.file("data").c_str(), 0755), 0);
  touch(dir.file("data/in.bin"));
  touch(dir.file("secret.bin"));
  ASSERT_EQ(::symlink(dir.file("secret.bin").c_str(), dir.file("data/link.bin").c_str()), 0);
  const std::string data = dir.file("data");
  auto spec_with = [&](const std::string& image) {
    const auto r = parse_request(R"({"id": 1, "prompt": {"content": [{"image": ")" + image + R"(", "grid": [1, 2, 2]}]}})",
                                 data);
    EXPECT_TRUE(r.ok()) << r.error;
    return r.req.spec;
  };
  auto in = spec_with("in.bin");
  EXPECT_EQ(confine_images(in, data), "");
  auto absolute = spec_with(dir.file("data/in.bin"));
  EXPECT_EQ(confine_images(absolute, data), "");
  auto up = spec_with("../secret.bin");
  EXPECT_TRUE(contains(confine_images(up, data), "outside the server's data directory"));
  auto link = spec_with("link.bin");  // a symlink out of the directory
  EXPECT_TRUE(contains(confine_images(link, data), "outside the server's data directory"));
  auto etc = spec_with("/etc/passwd");
  EXPECT_TRUE(contains(confine_images(etc, data), "outside the server's data directory"));
  auto missing = spec_with("nowhere.bin");
  EXPECT_TRUE(contains(confine_images(missing, data), "nowhere.bin: no such file"));
  // A sibling whose name starts with the directory's is outside too.
  ASSERT_EQ(::mkdir(dir.file("data2").c_str(), 0755), 0);
  touch(dir.file("data2/x.bin"));
  auto sibling = spec_with(dir.file("data2/x.bin"));
  EXPECT_TRUE(contains(confine_images(sibling, data), "outside"));
}

TEST(Request, ClientRequestsParseBack)
{
  prompt_spec s;
  s.system = {1, 2};
  prompt_segment t;
  t.text = {3, 4, 5};
  s.content.push_back(t);
  prompt_segment im;
  im.is_image = true;
  im.image.file = "/abs/img \"0\".bin";
  im.image.h = 4, im.image.w = 6;
  s.content.push_back(im);
  const auto r = parse_request(request_json(77, 9, s), "/elsewhere");
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.req.id, 77);
  EXPECT_EQ(r.req.top_k, 9);
  EXPECT_EQ(r.req.spec.system, s.system);
  EXPECT_EQ(r.req.spec.content[0].text, t.text);
  EXPECT_EQ(r.req.spec.content[1].image.file, im.image.file);
  EXPECT_EQ(r.req.spec.content[1].image.w, 6);
}

TEST(Reply, ErrorRepliesRoundTrip)
{
  const auto a = parse_reply(error_reply(12, "image \"x\": no such file\n"));
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.r.id, 12);
  EXPECT_FALSE(a.r.ok);
  EXPECT_EQ(a.r.error, "image \"x\": no such file\n");
  const auto b = parse_reply(error_reply(std::nullopt, "bad"));
  ASSERT_TRUE(b.ok()) << b.error;
  EXPECT_EQ(b.r.id, -1);
}

// A message echoing a client's path of control characters grows six-fold
// when escaped; the server's reply buffer is 8 KiB. Cut to fit, still JSON.
TEST(Reply, LongErrorRepliesAreCutToFit)
{
  const std::string path(5000, '\x01');
  const std::string msg = "image /data/" + path + ": no such file";
  ASSERT_GT(error_reply(3, msg).size(), 8191u);
  const std::string text = error_reply(3, msg, 8191);
  EXPECT_LE(text.size(), 8191u);
  const auto r = parse_reply(text);
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.r.id, 3);
  EXPECT_EQ(r.r.error.substr(0, 12), "image /data/");
  EXPECT_EQ(r.r.error.substr(r.r.error.size() - 3), "...");
  EXPECT_EQ(error_reply(3, "short", 8191), error_reply(3, "short")) << "a message that fits is left whole";
}

TEST(Reply, OkRepliesAndJunk)
{
  const auto a = parse_reply(
      R"({"id":5,"ok":true,"tokens":69,"images":2,"top":[[312,36.5594],[74,-1.5]],"load_ms":7.006,"prefill_ms":35.970})");
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_TRUE(a.r.ok);
  EXPECT_EQ(a.r.tokens, 69);
  ASSERT_EQ(a.r.top.size(), 2u);
  EXPECT_EQ(a.r.top[0].first, 312);
  EXPECT_DOUBLE_EQ(a.r.top[1].second, -1.5);
  EXPECT_DOUBLE_EQ(a.r.prefill_ms, 35.97);
  EXPECT_FALSE(parse_reply("VALUE x 0 1").ok());
  EXPECT_FALSE(parse_reply(R"({"id":5,"ok":true,"tokens":1,"images":0,"top":[[1]],"load_ms":1,"prefill_ms":1})").ok());
  EXPECT_FALSE(parse_reply(R"({"id":5,"ok":false})").ok());
}

}  // namespace
