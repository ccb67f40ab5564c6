// The envelope codec: round trips, and every malformed frame refused with the field named.
#include "protocols/ws/envelope.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <string>

using namespace superapp;
using namespace superapp::ws;
namespace json = boost::json;

namespace {

constexpr std::string_view valid_traceparent =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

decode_error refused(std::string_view frame) {
  auto r = decode_request(frame);
  REQUIRE_FALSE(r);
  return r.error();
}

}  // namespace

TEST_CASE("a request with every field survives a write and a decode unchanged") {
  request_envelope sent{
      std::string{"req-1"}, "banking.transfer", std::string{"key_0123-abc"},
      std::string{valid_traceparent},
      json::parse(R"({"amount_minor": 100, "to": "A \"quoted\" \n one"})").as_object()};
  std::string frame;
  write_request(frame, sent);
  auto got = decode_request(frame);
  REQUIRE(got);
  CHECK(got->id == sent.id);
  CHECK(got->op == sent.op);
  CHECK(got->idempotency_key == sent.idempotency_key);
  CHECK(got->traceparent == sent.traceparent);
  CHECK(got->body == sent.body);
}

TEST_CASE("an integer id is kept as an integer, negative ones included") {
  auto got = decode_request(R"({"id": -42, "op": "system.ping", "body": {}})");
  REQUIRE(got);
  CHECK(got->id == request_id{std::int64_t{-42}});
  CHECK_FALSE(got->idempotency_key);
  CHECK_FALSE(got->traceparent);
}

TEST_CASE("an ok reply echoes the id and survives a client-side decode") {
  std::string out;
  write_ok_reply(out, request_id{std::int64_t{7}}, json::parse(R"({"pong": true})").as_object());
  CHECK(out == R"({"id":7,"ok":true,"body":{"pong":true}})");
  auto frame = decode_server_frame(out);
  REQUIRE(frame);
  auto& reply = std::get<reply_envelope>(*frame);
  CHECK(reply.ok);
  CHECK(reply.id == request_id{std::int64_t{7}});
  CHECK(reply.body == json::parse(R"({"pong": true})").as_object());
}

TEST_CASE("a pre-serialized body is copied into the reply as it is") {
  std::string out;
  write_ok_reply_raw(out, request_id{std::string{"a"}}, R"({"text":"hi"})");
  CHECK(out == R"({"id":"a","ok":true,"body":{"text":"hi"}})");
}

TEST_CASE("an error reply carries the catalogue's code, retryability and retry_after_ms") {
  std::string out;
  write_error_reply(out, request_id{std::string{"x\"y"}}, describe(platform_errc::rate_limited), {},
                    250);
  CHECK(out ==
        R"({"id":"x\"y","ok":false,"error":{"code":"rate_limited",)"
        R"("message":"too many requests; retry later","retryable":true,"retry_after_ms":250}})");
  auto frame = decode_server_frame(out);
  REQUIRE(frame);
  auto& reply = std::get<reply_envelope>(*frame);
  CHECK_FALSE(reply.ok);
  CHECK(reply.id == request_id{std::string{"x\"y"}});
  REQUIRE(reply.error);
  CHECK(reply.error->code == "rate_limited");
  CHECK(reply.error->retryable);
  CHECK(reply.error->retry_after_ms == 250);
}

TEST_CASE("a request whose id could not be read gets an error reply with a null id") {
  auto err = refused(R"({"id": 1.5, "op": "system.ping", "body": {}})");
  std::string out;
  write_error_reply(out, err);
  CHECK(out == R"({"id":null,"ok":false,"error":{"code":"bad_request",)"
               R"("message":"field \"id\" must be a string or an integer","retryable":false}})");
  auto frame = decode_server_frame(out);
  REQUIRE(frame);
  CHECK(std::holds_alternative<std::monostate>(std::get<reply_envelope>(*frame).id));
}

TEST_CASE("an event push survives a client-side decode with its topic and seq") {
  std::string out;
  write_event(out, "banking.transfer.completed", 18446744073709551615ULL,
              json::parse(R"({"transfer_id": "t1"})").as_object());
  CHECK(out == R"({"type":"event","topic":"banking.transfer.completed",)"
               R"("seq":18446744073709551615,"body":{"transfer_id":"t1"}})");
  auto frame = decode_server_frame(out);
  REQUIRE(frame);
  auto& event = std::get<event_envelope>(*frame);
  CHECK(event.topic == "banking.transfer.completed");
  CHECK(event.seq == 18446744073709551615ULL);
}

TEST_CASE("writers append to the caller's buffer so one buffer serves a whole session") {
  std::string out;
  out.reserve(256);
  const auto* before = out.data();
  write_ok_reply(out, request_id{std::int64_t{1}}, json::object{});
  write_event(out, "t", 1, json::object{});
  CHECK(out == R"({"id":1,"ok":true,"body":{}}{"type":"event","topic":"t","seq":1,"body":{}})");
  CHECK(out.data() == before);  // no reallocation: the writers wrote into the given buffer
}

TEST_CASE("control characters in strings are escaped") {
  std::string out;
  append_json_string(out, std::string_view{"a\x01\tb\\", 5});
  CHECK(out == R"("a\u0001\tb\\")");
  CHECK(json::parse(out) == json::value(std::string_view{"a\x01\tb\\", 5}));
}

TEST_CASE("a frame that is not JSON is a bad request saying so") {
  auto err = refused("{\"id\": 1, \"op\": ");
  CHECK(err.code == platform_errc::bad_request);
  CHECK(err.message == "the frame is not JSON");
  CHECK(std::holds_alternative<std::monostate>(err.id));
  CHECK(refused("hello").message == "the frame is not JSON");
}

TEST_CASE("JSON that is not an object is a bad request") {
  CHECK(refused("[1, 2]").message == "the frame is not a JSON object");
}

TEST_CASE("a frame over the size limit is payload_too_large") {
  std::string frame = R"({"id": 1, "op": "system.echo", "body": {"text": ")";
  frame.append(max_frame_bytes, 'a');
  frame.append("\"}}");
  auto err = refused(frame);
  CHECK(err.code == platform_errc::payload_too_large);
}

TEST_CASE("JSON nested deeper than the limit is refused before it is built") {
  std::string deep = R"({"id": 1, "op": "system.echo", "body": {"text": )";
  std::string open(max_json_depth, '['), close(max_json_depth, ']');
  auto err = refused(deep + open + close + "}}");
  CHECK(err.code == platform_errc::bad_request);
  CHECK(err.message == "the frame nests deeper than " + std::to_string(max_json_depth) + " levels");
  // One level less than the limit parses (the body schema decides about it later).
  std::string ok_open(max_json_depth - 2, '['), ok_close(max_json_depth - 2, ']');
  CHECK(decode_request(deep + ok_open + ok_close + "}}"));
}

TEST_CASE("a missing field is named") {
  CHECK(refused(R"({"op": "system.ping", "body": {}})").message == R"(missing field "id")");
  auto no_op = refused(R"({"id": 3, "body": {}})");
  CHECK(no_op.message == R"(missing field "op")");
  CHECK(no_op.field == "op");
  CHECK(no_op.id == request_id{std::int64_t{3}});  // the id was readable, so it is echoed
  CHECK(refused(R"({"id": 3, "op": "system.ping"})").message == R"(missing field "body")");
}

TEST_CASE("an unknown envelope field is named") {
  auto err = refused(R"({"id": 1, "op": "system.ping", "bdy": {}})");
  CHECK(err.message == R"(unknown field "bdy")");
  CHECK(err.field == "bdy");
}

TEST_CASE("wrong-typed envelope fields are named") {
  CHECK(refused(R"({"id": true, "op": "system.ping", "body": {}})").message ==
        R"(field "id" must be a string or an integer)");
  CHECK(refused(R"({"id": null, "op": "system.ping", "body": {}})").message ==
        R"(field "id" must be a string or an integer)");
  CHECK(refused(R"({"id": 1, "op": 5, "body": {}})").message == R"(field "op" must be a string)");
  CHECK(refused(R"({"id": 1, "op": "system.ping", "body": []})").message ==
        R"(field "body" must be an object)");
  CHECK(refused(R"({"id": 1, "op": "system.ping", "traceparent": 1, "body": {}})").message ==
        R"(field "traceparent" must be a string)");
}

TEST_CASE("huge ids are refused, as strings and as integers") {
  std::string long_id(max_id_chars + 1, 'x');
  auto err = refused(R"({"id": ")" + long_id + R"(", "op": "system.ping", "body": {}})");
  CHECK(err.message ==
        "field \"id\" is longer than " + std::to_string(max_id_chars) + " characters");
  CHECK(std::holds_alternative<std::monostate>(err.id));
  CHECK(refused(R"({"id": 18446744073709551615, "op": "system.ping", "body": {}})").field == "id");
  CHECK(refused(R"({"id": 1e400, "op": "system.ping", "body": {}})").field == "id");
  CHECK(refused(R"({"id": "", "op": "system.ping", "body": {}})").message ==
        R"(field "id" must not be empty)");
  std::string longest_id(max_id_chars, 'x');
  CHECK(decode_request(R"({"id": ")" + longest_id + R"(", "op": "system.ping", "body": {}})"));
}

TEST_CASE("an op that is not domain.verb or is too long is a bad request") {
  for (auto op : {"ping", "System.ping", "system.", ".ping", "a.b.c", "system.pi ng"}) {
    CAPTURE(op);
    auto err = refused(std::string{R"({"id": 1, "op": ")"} + op + R"(", "body": {}})");
    CHECK(err.field == "op");
    CHECK(err.code == platform_errc::bad_request);
  }
  std::string long_op = "system." + std::string(max_op_chars, 'a');
  CHECK(refused(R"({"id": 1, "op": ")" + long_op + R"(", "body": {}})").message ==
        "field \"op\" is longer than " + std::to_string(max_op_chars) + " characters");
}

TEST_CASE("an invalid idempotency key is refused saying why") {
  auto frame = [](std::string_view key) {
    return std::string{R"({"id": 1, "op": "system.ping", "idempotency_key": )"} + std::string{key} +
           R"(, "body": {}})";
  };
  CHECK(refused(frame(R"("short")")).message ==
        R"(field "idempotency_key" must be 8 to 128 characters long)");
  CHECK(refused(frame("\"" + std::string(129, 'k') + "\"")).field == "idempotency_key");
  CHECK(refused(frame(R"("has space 123")")).message ==
        R"(field "idempotency_key" may only contain letters, digits, '_' and '-')");
  CHECK(refused(frame("12345678")).message == R"(field "idempotency_key" must be a string)");
  CHECK(decode_request(frame(R"("Ab_-0123")")));
  CHECK(decode_request(frame("\"" + std::string(128, 'k') + "\"")));
}

TEST_CASE("a malformed traceparent is dropped, as W3C asks, and a valid one kept") {
  auto frame = [](std::string_view tp) {
    return std::string{R"({"id": 1, "op": "system.ping", "traceparent": ")"} + std::string{tp} +
           R"(", "body": {}})";
  };
  for (auto tp : {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                  "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                  "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                  "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"}) {
    CAPTURE(tp);
    auto dropped = decode_request(frame(tp));
    REQUIRE(dropped);
    CHECK_FALSE(dropped->traceparent);
  }
  auto got = decode_request(frame(valid_traceparent));
  REQUIRE(got);
  CHECK(got->traceparent == std::string{valid_traceparent});
}
