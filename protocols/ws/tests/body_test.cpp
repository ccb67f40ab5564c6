// body_schema: typed decoding with exact errors, encoding, and the JSON Schema it emits.
#include "protocols/ws/body.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace superapp::ws;
namespace json = boost::json;

namespace {

struct echo_body {
  std::string text;
};

struct payee {
  std::string account;
  std::optional<std::string> note;
};

struct transfer_body {
  std::int64_t amount_minor = 0;
  bool instant = false;
  std::optional<std::int64_t> scheduled_day;
  payee to;
  std::optional<payee> cc;
};

body_schema<payee> payee_schema() {
  return body_schema<payee>{}
      .required("account", &payee::account, max_length{34}, min_length{1})
      .optional("note", &payee::note, max_length{10});
}

body_schema<transfer_body> transfer_schema() {
  return body_schema<transfer_body>{}
      .required("amount_minor", &transfer_body::amount_minor, int_range{1, 1'000'000'00})
      .required("instant", &transfer_body::instant)
      .optional("scheduled_day", &transfer_body::scheduled_day, int_range{1, 31})
      .required("to", &transfer_body::to, payee_schema())
      .optional("cc", &transfer_body::cc, payee_schema());
}

json::object obj(std::string_view text) { return json::parse(text).as_object(); }

}  // namespace

TEST_CASE("a body with every kind of field decodes into the typed struct") {
  auto b = transfer_schema().decode(obj(
      R"({"amount_minor": 1250, "instant": true, "scheduled_day": 3,
          "to": {"account": "DE89", "note": "rent"}})"));
  REQUIRE(b);
  CHECK(b->amount_minor == 1250);
  CHECK(b->instant);
  CHECK(b->scheduled_day == 3);
  CHECK(b->to.account == "DE89");
  CHECK(b->to.note == "rent");
  CHECK_FALSE(b->cc.has_value());
}

TEST_CASE("encoding a decoded body gives back the same JSON") {
  auto text = R"({"amount_minor": 7, "instant": false, "to": {"account": "X"},
                  "cc": {"account": "Y", "note": "n"}})";
  auto b = transfer_schema().decode(obj(text));
  REQUIRE(b);
  CHECK(transfer_schema().encode(*b) == obj(text));
}

TEST_CASE("a missing required field is named") {
  auto b = body_schema<echo_body>{}
               .required("text", &echo_body::text, max_length{4096})
               .decode(obj("{}"));
  REQUIRE_FALSE(b);
  CHECK(b.error().field == "text");
  CHECK(b.error().message == R"(missing field "text")");
}

TEST_CASE("a missing field inside a nested object is named with its path") {
  auto b = transfer_schema().decode(obj(R"({"amount_minor": 1, "instant": true, "to": {}})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(missing field "to.account")");
}

TEST_CASE("an unknown extra field is refused and named") {
  auto b = body_schema<echo_body>{}
               .required("text", &echo_body::text, max_length{4096})
               .decode(obj(R"({"text": "hi", "txt": "hi"})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(unknown field "txt")");
}

TEST_CASE("an unknown field inside a nested object is refused") {
  auto b = transfer_schema().decode(
      obj(R"({"amount_minor": 1, "instant": true, "to": {"account": "A", "iban": "B"}})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(unknown field "to.iban")");
}

TEST_CASE("a wrong-typed field says which type it must be") {
  auto schema = transfer_schema();
  CHECK(schema.decode(obj(R"({"amount_minor": "1", "instant": true, "to": {"account": "A"}})"))
            .error()
            .message == R"(field "amount_minor" must be an integer)");
  CHECK(schema.decode(obj(R"({"amount_minor": 1, "instant": 1, "to": {"account": "A"}})"))
            .error()
            .message == R"(field "instant" must be true or false)");
  CHECK(schema.decode(obj(R"({"amount_minor": 1, "instant": true, "to": "A"})")).error().message ==
        R"(field "to" must be an object)");
  CHECK(schema.decode(obj(R"({"amount_minor": 1, "instant": true, "to": {"account": 5}})"))
            .error()
            .message == R"(field "to.account" must be a string)");
  CHECK(schema.decode(obj(R"({"amount_minor": 1, "instant": true, "to": {"account": null}})"))
            .error()
            .message == R"(field "to.account" must be a string)");
}

TEST_CASE("a double where an integer is expected is refused, even when it is whole") {
  for (auto text : {"12.5", "12.0", "1e3"}) {
    CAPTURE(text);
    auto b = transfer_schema().decode(obj(std::string{R"({"amount_minor": )"} + text +
                                          R"(, "instant": true, "to": {"account": "A"}})"));
    REQUIRE_FALSE(b);
    CHECK(b.error().field == "amount_minor");
    CHECK(b.error().message.find("must be an integer, not a floating-point number") !=
          std::string::npos);
  }
}

TEST_CASE("an integer outside its range is refused with the range") {
  auto b = transfer_schema().decode(
      obj(R"({"amount_minor": 0, "instant": true, "to": {"account": "A"}})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(field "amount_minor" must be between 1 and 100000000)");
  auto huge = transfer_schema().decode(
      obj(R"({"amount_minor": 18446744073709551615, "instant": true, "to": {"account": "A"}})"));
  REQUIRE_FALSE(huge);
  CHECK(huge.error().field == "amount_minor");
}

TEST_CASE("a string longer than its limit is refused, counting characters not bytes") {
  auto schema = body_schema<echo_body>{}.required("text", &echo_body::text, max_length{3});
  CHECK(schema.decode(obj(R"({"text": "äöü"})")));  // 3 characters, 6 bytes
  auto b = schema.decode(obj(R"({"text": "abcd"})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(field "text" is longer than 3 characters)");
}

TEST_CASE("a string shorter than its minimum is refused") {
  auto b = transfer_schema().decode(
      obj(R"({"amount_minor": 1, "instant": true, "to": {"account": ""}})"));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == R"(field "to.account" is shorter than 1 characters)");
}

TEST_CASE("a body that is not an object is refused") {
  auto b = transfer_schema().decode(json::value(json::array{}));
  REQUIRE_FALSE(b);
  CHECK(b.error().message == "the body must be a JSON object");
}

TEST_CASE("the schema emits a JSON Schema fragment with types, limits and required fields") {
  auto expected = json::parse(R"({
    "type": "object",
    "properties": {
      "amount_minor": {"type": "integer", "minimum": 1, "maximum": 100000000},
      "instant": {"type": "boolean"},
      "scheduled_day": {"type": "integer", "minimum": 1, "maximum": 31},
      "to": {"type": "object",
             "properties": {"account": {"type": "string", "minLength": 1, "maxLength": 34},
                            "note": {"type": "string", "maxLength": 10}},
             "required": ["account"], "additionalProperties": false},
      "cc": {"type": "object",
             "properties": {"account": {"type": "string", "minLength": 1, "maxLength": 34},
                            "note": {"type": "string", "maxLength": 10}},
             "required": ["account"], "additionalProperties": false}
    },
    "required": ["amount_minor", "instant", "to"],
    "additionalProperties": false
  })");
  CHECK(json::value(transfer_schema().json_schema()) == expected);
}

TEST_CASE("nesting a schema that itself nests is a bug caught at once") {
  struct outer {
    transfer_body inner;
  };
  CHECK_THROWS_AS(body_schema<outer>{}.required("inner", &outer::inner, transfer_schema()),
                  superapp::assertion_failure);
}

TEST_CASE("declaring a field twice is a bug caught at once") {
  CHECK_THROWS_AS(body_schema<echo_body>{}
                      .required("text", &echo_body::text, max_length{1})
                      .required("text", &echo_body::text, max_length{1}),
                  superapp::assertion_failure);
}
