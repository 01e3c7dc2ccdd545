// What gsys-vlm serve and client say to each other: one UDP datagram of
// JSON each way.
//
//   request:  {"id": 7, "top_k": 5, "prompt": {a prompt spec, prompt.h}}
//   reply:    {"id": 7, "ok": true, "tokens": 245, "images": 2,
//              "top": [[17, 3.1416], ...], "load_ms": 1.234, "prefill_ms": 150.2}
//   error:    {"id": 7, "ok": false, "error": "..."}   (id null when unknown)
//
// The server's reply kernel writes the ok reply itself (serve_kernels.cuh);
// error replies are formatted here. A request names its images by path, so
// a prompt bigger than a datagram still fits in one: the server reads the
// files itself, and only those inside its data directory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vlm/prompt.h"

namespace vlm {

constexpr int kMaxTopK = 64;

struct request {
  std::int64_t id = 0;
  int top_k = 5;
  prompt_spec spec;
};

struct request_result {
  request req;
  std::optional<std::int64_t> id;  // set as soon as it was read, for the error reply
  std::string error;
  bool ok() const { return error.empty(); }
};

// Pure: parses a request datagram. Relative image paths are taken against
// `data_dir`; nothing is opened (see confine_images).
request_result parse_request(std::string_view text, const std::string& data_dir);

// The request as the client sends it.
std::string request_json(std::int64_t id, int top_k, const prompt_spec& spec);

// Resolves every image of `spec` (symlinks included) and refuses one that
// is missing or lies outside `data_dir` (itself resolved): "" or the error.
// On success the paths in `spec` are the resolved ones.
std::string confine_images(prompt_spec& spec, const std::string& data_dir);

std::string error_reply(std::optional<std::int64_t> id, std::string_view message);
// The same, at most max_bytes long (max_bytes >= 64): a message that would
// not fit (it may echo a client's path, and escaping can grow it six-fold)
// is cut and ends in "...".
std::string error_reply(std::optional<std::int64_t> id, std::string_view message, std::size_t max_bytes);

struct reply {
  std::int64_t id = -1;  // -1: null
  bool ok = false;
  std::string error;
  std::int64_t tokens = 0, images = 0;
  std::vector<std::pair<std::int64_t, double>> top;
  double load_ms = 0, prefill_ms = 0;
};

struct reply_result {
  reply r;
  std::string error;  // the datagram is not a reply
  bool ok() const { return error.empty(); }
};

// Pure: parses a reply datagram (ok or error).
reply_result parse_reply(std::string_view text);

}  // namespace vlm
