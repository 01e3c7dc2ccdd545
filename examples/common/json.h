// A small JSON reader and writer for the examples' host code: config files,
// prompt specs, safetensors headers. Pure functions (text in, value or error
// out, no I/O, no exceptions from parse), so a fuzzer can drive json::parse
// directly. Header-only: the programs are built twice (simulator, CUDA).
//
//   json::result r = json::parse(text);
//   if (!r.ok()) fail(r.error);          // "line 3, column 7: expected ':'"
//   const json::value* h = r.val.find("hidden_size");
//   std::int64_t n; if (h && h->get_int(n)) ...
//
// Numbers keep their text, so integers up to 2^63 stay exact (safetensors
// offsets) and doubles are parsed with strtod. Objects keep member order
// (a header's tensors are reported in file order); duplicate keys are an
// error. Nesting is limited (kMaxDepth) so hostile input cannot overflow
// the stack.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ex::json {

enum class kind { null, boolean, number, string, array, object };

struct value {
  kind k = kind::null;
  bool b = false;
  std::string s;  // string contents, or the number's text
  std::vector<value> items;                           // array
  std::vector<std::pair<std::string, value>> members;  // object, in order

  // Declared here, defined below: clang (14, with libstdc++) would otherwise
  // instantiate std::pair<std::string, value> while it checks value's own
  // implicit members, before value is complete.
  value() = default;
  value(const value&) = default;
  value(value&&) noexcept = default;
  value& operator=(const value&) = default;
  value& operator=(value&&) noexcept = default;
  ~value();

  bool is_null() const { return k == kind::null; }
  bool is_number() const { return k == kind::number; }
  bool is_string() const { return k == kind::string; }
  bool is_array() const { return k == kind::array; }
  bool is_object() const { return k == kind::object; }

  // The member named `key` of an object, or nullptr.
  const value* find(std::string_view key) const
  {
    if (k != kind::object) return nullptr;
    for (const auto& m : members)
      if (m.first == key) return &m.second;
    return nullptr;
  }

  // An integral number that fits in int64 (no fraction, no exponent).
  bool get_int(std::int64_t& out) const
  {
    if (k != kind::number || s.empty()) return false;
    for (char c : s)
      if (c == '.' || c == 'e' || c == 'E') return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno || *end) return false;
    out = v;
    return true;
  }
  bool get_double(double& out) const
  {
    if (k != kind::number) return false;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return *end == '\0' && std::isfinite(out);
  }
  bool get_bool(bool& out) const
  {
    if (k != kind::boolean) return false;
    out = b;
    return true;
  }
};

inline value::~value() = default;

struct result {
  value val;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }
};

constexpr int kMaxDepth = 64;

namespace detail {

class parser {
 public:
  explicit parser(std::string_view t) : t_(t) {}

  result run()
  {
    result r;
    skip_ws();
    if (!parse_value(r.val, 0)) {
      r.error = where() + err_;
      return r;
    }
    skip_ws();
    if (i_ != t_.size()) r.error = where() + "unexpected text after the value";
    return r;
  }

 private:
  std::string_view t_;
  std::size_t i_ = 0;
  std::string err_;

  std::string where() const
  {
    std::size_t line = 1, col = 1;
    for (std::size_t j = 0; j < i_ && j < t_.size(); ++j) {
      if (t_[j] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(col) + ": ";
  }
  bool fail(const char* what)
  {
    err_ = what;
    return false;
  }
  void skip_ws()
  {
    while (i_ < t_.size() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool literal(std::string_view w)
  {
    if (t_.substr(i_, w.size()) != w) return fail("invalid literal");
    i_ += w.size();
    return true;
  }

  bool parse_value(value& v, int depth)
  {
    if (depth > kMaxDepth) return fail("nesting too deep");
    if (i_ >= t_.size()) return fail("unexpected end of input");
    const char c = t_[i_];
    switch (c) {
      case '{': return parse_object(v, depth);
      case '[': return parse_array(v, depth);
      case '"': v.k = kind::string; return parse_string(v.s);
      case 't': v.k = kind::boolean; v.b = true; return literal("true");
      case 'f': v.k = kind::boolean; v.b = false; return literal("false");
      case 'n': v.k = kind::null; return literal("null");
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(v);
        return fail("expected a value");
    }
  }

  bool digits()
  {
    const std::size_t s = i_;
    while (i_ < t_.size() && t_[i_] >= '0' && t_[i_] <= '9') ++i_;
    return i_ > s;
  }

  bool parse_number(value& v)
  {
    const std::size_t s = i_;
    if (t_[i_] == '-') ++i_;
    if (i_ < t_.size() && t_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return fail("invalid number");
    }
    if (i_ < t_.size() && t_[i_] == '.') {
      ++i_;
      if (!digits()) return fail("invalid number");
    }
    if (i_ < t_.size() && (t_[i_] == 'e' || t_[i_] == 'E')) {
      ++i_;
      if (i_ < t_.size() && (t_[i_] == '+' || t_[i_] == '-')) ++i_;
      if (!digits()) return fail("invalid number");
    }
    v.k = kind::number;
    v.s.assign(t_.substr(s, i_ - s));
    return true;
  }

  static void put_utf8(std::string& o, std::uint32_t cp)
  {
    if (cp < 0x80) {
      o += char(cp);
    } else if (cp < 0x800) {
      o += char(0xc0 | (cp >> 6));
      o += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      o += char(0xe0 | (cp >> 12));
      o += char(0x80 | ((cp >> 6) & 0x3f));
      o += char(0x80 | (cp & 0x3f));
    } else {
      o += char(0xf0 | (cp >> 18));
      o += char(0x80 | ((cp >> 12) & 0x3f));
      o += char(0x80 | ((cp >> 6) & 0x3f));
      o += char(0x80 | (cp & 0x3f));
    }
  }

  bool hex4(std::uint32_t& out)
  {
    if (t_.size() - i_ < 4) return fail("truncated \\u escape");
    out = 0;
    for (int j = 0; j < 4; ++j) {
      const char c = t_[i_++];
      out <<= 4;
      if (c >= '0' && c <= '9') out |= std::uint32_t(c - '0');
      else if (c >= 'a' && c <= 'f') out |= std::uint32_t(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') out |= std::uint32_t(c - 'A' + 10);
      else return fail("invalid \\u escape");
    }
    return true;
  }

  bool parse_string(std::string& o)
  {
    ++i_;  // opening quote
    while (true) {
      if (i_ >= t_.size()) return fail("unterminated string");
      const char c = t_[i_++];
      if (c == '"') return true;
      if ((unsigned char)c < 0x20) return fail("control character in string");
      if (c != '\\') {
        o += c;
        continue;
      }
      if (i_ >= t_.size()) return fail("unterminated string");
      const char e = t_[i_++];
      switch (e) {
        case '"': o += '"'; break;
        case '\\': o += '\\'; break;
        case '/': o += '/'; break;
        case 'b': o += '\b'; break;
        case 'f': o += '\f'; break;
        case 'n': o += '\n'; break;
        case 'r': o += '\r'; break;
        case 't': o += '\t'; break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
            std::uint32_t lo;
            if (t_.substr(i_, 2) != "\\u") return fail("unpaired surrogate");
            i_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xdc00 || lo >= 0xe000) return fail("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return fail("unpaired surrogate");
          }
          put_utf8(o, cp);
          break;
        }
        default: return fail("invalid escape");
      }
    }
  }

  bool parse_array(value& v, int depth)
  {
    v.k = kind::array;
    ++i_;
    skip_ws();
    if (i_ < t_.size() && t_[i_] == ']') {
      ++i_;
      return true;
    }
    while (true) {
      v.items.emplace_back();
      skip_ws();
      if (!parse_value(v.items.back(), depth + 1)) return false;
      skip_ws();
      if (i_ >= t_.size()) return fail("unterminated array");
      if (t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (t_[i_] == ']') {
        ++i_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  bool parse_object(value& v, int depth)
  {
    v.k = kind::object;
    ++i_;
    skip_ws();
    if (i_ < t_.size() && t_[i_] == '}') {
      ++i_;
      return true;
    }
    while (true) {
      skip_ws();
      if (i_ >= t_.size() || t_[i_] != '"') return fail("expected a member name");
      std::string key;
      if (!parse_string(key)) return false;
      if (v.find(key)) return fail("duplicate member name");
      skip_ws();
      if (i_ >= t_.size() || t_[i_] != ':') return fail("expected ':'");
      ++i_;
      skip_ws();
      v.members.emplace_back(std::move(key), value{});
      if (!parse_value(v.members.back().second, depth + 1)) return false;
      skip_ws();
      if (i_ >= t_.size()) return fail("unterminated object");
      if (t_[i_] == ',') {
        ++i_;
        continue;
      }
      if (t_[i_] == '}') {
        ++i_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }
};

}  // namespace detail

inline result parse(std::string_view text) { return detail::parser(text).run(); }

// Writing: a string escaped for JSON (no quotes), and quoted.
inline std::string escape(std::string_view s)
{
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if ((unsigned char)c < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o;
}

// Appended rather than "\"" + escape(s): g++ 12 warns (-Wrestrict, a false
// positive) on operator+ with a literal and a temporary string.
inline std::string quote(std::string_view s)
{
  std::string o = "\"";
  o += escape(s);
  o += '"';
  return o;
}

// A double that reads back exactly.
inline std::string number(double d)
{
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", d);
  return b;
}

}  // namespace ex::json
