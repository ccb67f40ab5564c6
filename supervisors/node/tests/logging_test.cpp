// Tests of the logging formats: JSON lines with fields, escaping, plain spdlog calls, text.
#include "supervisors/node/logging.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace node = superapp::node;
namespace json = boost::json;

namespace {

// Installs a default logger writing into a string for the test's lifetime, then puts a plain
// one back so later suites do not write into a dead stream.
class captured_log {
 public:
  explicit captured_log(node::log_format format, node::log_level level = node::log_level::trace) {
    node::init_logging({level, format, ""}, std::make_shared<spdlog::sinks::ostream_sink_st>(out_));
  }
  ~captured_log() {
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stderr_sink_st>()));
  }
  captured_log(const captured_log&) = delete;
  captured_log& operator=(const captured_log&) = delete;

  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in{out_.str()};
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }

  // Each line must be a JSON object on its own.
  std::vector<json::object> records() const {
    std::vector<json::object> result;
    for (const std::string& line : lines()) {
      json::error_code ec;
      json::value parsed = json::parse(line, ec);
      REQUIRE_MESSAGE(!ec, "not JSON: " << line);
      REQUIRE_MESSAGE(parsed.is_object(), "not an object: " << line);
      result.push_back(parsed.as_object());
    }
    return result;
  }

  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string str(const json::object& record, std::string_view key) {
  const json::value* v = record.if_contains(key);
  REQUIRE_MESSAGE(v != nullptr, "missing key " << key);
  REQUIRE(v->is_string());
  return std::string{v->as_string()};
}

}  // namespace

TEST_CASE("a structured record is one JSON line with ts, level, msg and the fields") {
  captured_log capture{node::log_format::json};
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  superapp::log::info("transfer posted", {{"trace_id", trace_id},
                                          {"actor", "root/banking/store"},
                                          {"amount_minor", 100},
                                          {"pending", false},
                                          {"units", std::size_t{3}}});
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 1);
  const json::object& r = records[0];
  CHECK(str(r, "level") == "info");
  CHECK(str(r, "msg") == "transfer posted");
  CHECK(str(r, "trace_id") == trace_id);
  CHECK(str(r, "actor") == "root/banking/store");
  CHECK(r.at("amount_minor").as_int64() == 100);
  CHECK(r.at("pending").as_bool() == false);
  CHECK(r.at("units").to_number<std::uint64_t>() == 3);
  const std::string ts = str(r, "ts");
  REQUIRE(ts.size() == 24);  // 2026-11-25T16:00:00.123Z
  CHECK(ts[4] == '-');
  CHECK(ts[10] == 'T');
  CHECK(ts[19] == '.');
  CHECK(ts.back() == 'Z');
  // ts, level and msg lead so that a person reading raw lines sees them first.
  CHECK(capture.lines()[0].starts_with(R"({"ts":")"));
}

TEST_CASE("quotes, backslashes, newlines and control characters are escaped in JSON") {
  captured_log capture{node::log_format::json};
  const std::string nasty = "say \"hi\"\\ \n next\tline \x01\x1f end";
  superapp::log::warn(nasty, {{"payee", nasty}, {"key \"with\" quotes", "v"}});
  const std::vector<std::string> lines = capture.lines();
  REQUIRE(lines.size() == 1);  // the newline did not split the record
  const std::vector<json::object> records = capture.records();
  CHECK(str(records[0], "msg") == nasty);
  CHECK(str(records[0], "payee") == nasty);
  CHECK(str(records[0], "key \"with\" quotes") == "v");
  CHECK(str(records[0], "level") == "warn");
}

TEST_CASE("invalid UTF-8 is replaced so the line still parses") {
  captured_log capture{node::log_format::json};
  superapp::log::error("bad \xff\xfe bytes", {{"name", "trunc\xe2\x82"}});
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 1);
  CHECK(str(records[0], "msg") == "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes");
  CHECK(str(records[0], "level") == "error");
}

TEST_CASE("plain spdlog calls still come out as valid JSON lines") {
  captured_log capture{node::log_format::json};
  spdlog::info("plain {} with \"quotes\" and\nnewline", 42);
  spdlog::error("second");
  SPDLOG_LOGGER_WARN(spdlog::default_logger(), "with source {}", 1);
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 3);
  CHECK(str(records[0], "msg") == "plain 42 with \"quotes\" and\nnewline");
  CHECK(str(records[0], "level") == "info");
  CHECK(records[0].size() == 3);  // ts, level, msg: no fields leak from earlier records
  CHECK(str(records[1], "msg") == "second");
  CHECK(str(records[2], "src").find("logging_test.cpp:") != std::string::npos);
}

TEST_CASE("a plain call with the same text as a structured one gets no fields") {
  captured_log capture{node::log_format::json};
  superapp::log::info("same", {{"trace_id", "t1"}});
  spdlog::info("same");
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 2);
  CHECK(records[0].contains("trace_id"));
  CHECK_FALSE(records[1].contains("trace_id"));
}

TEST_CASE("a secret passed as a field prints as ***") {
  const superapp::secret token{"0123456789abcdef-operator"};
  {
    captured_log capture{node::log_format::json};
    superapp::log::info("admin started", {{"operator_token", token}});
    spdlog::info("token is {}", token);
    const std::vector<json::object> records = capture.records();
    REQUIRE(records.size() == 2);
    CHECK(str(records[0], "operator_token") == "***");
    CHECK(str(records[1], "msg") == "token is ***");
    CHECK(capture.text().find(token.reveal()) == std::string::npos);
  }
  {
    captured_log capture{node::log_format::text};
    superapp::log::info("admin started", {{"operator_token", token}});
    CHECK(capture.text().find("operator_token=***") != std::string::npos);
    CHECK(capture.text().find(token.reveal()) == std::string::npos);
  }
}

TEST_CASE("reserved keys in fields are renamed so no key appears twice") {
  captured_log capture{node::log_format::json};
  superapp::log::info("real message", {{"msg", "fake"}, {"level", "fake"}});
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 1);
  CHECK(str(records[0], "msg") == "real message");
  CHECK(str(records[0], "field_msg") == "fake");
  CHECK(str(records[0], "field_level") == "fake");
}

TEST_CASE("records below the configured level are dropped") {
  captured_log capture{node::log_format::json, node::log_level::warn};
  superapp::log::info("quiet", {{"k", 1}});
  spdlog::debug("quieter");
  superapp::log::warn("loud");
  const std::vector<json::object> records = capture.records();
  REQUIRE(records.size() == 1);
  CHECK(str(records[0], "msg") == "loud");
}

TEST_CASE("the text format is one readable line per record with key=value fields") {
  captured_log capture{node::log_format::text};
  superapp::log::info("transfer posted",
                      {{"trace_id", "ab12"}, {"amount_minor", 100}, {"payee", "Juan dela Cruz"}});
  spdlog::warn("two\nlines");
  const std::vector<std::string> lines = capture.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].ends_with(
      " info  transfer posted trace_id=ab12 amount_minor=100 payee=\"Juan dela Cruz\""));
  CHECK(lines[0][23] == 'Z');
  CHECK(lines[1].ends_with(" warn  two\\nlines"));
}

TEST_CASE("init_logging reports a log file it cannot open as a config error line") {
  const std::optional<std::string> failure =
      node::init_logging({node::log_level::info, node::log_format::json, "/dev/null/x.log"});
  REQUIRE(failure.has_value());
  CHECK(failure->starts_with("config error: log.file: cannot open \"/dev/null/x.log\""));
  CHECK(failure->find('\n') == std::string::npos);
}
