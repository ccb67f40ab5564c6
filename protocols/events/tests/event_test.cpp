// The event envelope: ids, round trips, refusal of foreign versions and of garbage bytes.
#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <random>
#include <set>

#include "protocols/events/event.hpp"

using namespace superapp;
using namespace superapp::events;

namespace {

event sample(const superapp::clock& c) {
  return make_event(c, "banking.transfer.completed", 2, "acct-42", 7,
                    R"({"amount_minor":1250,"currency":"EUR"})",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

}  // namespace

TEST_CASE("event ids are random, version 4, and print and parse as UUIDs") {
  std::set<event_id> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = random_event_id();
    CHECK((id.bytes[6] >> 4) == 4);
    CHECK((id.bytes[8] & 0xc0) == 0x80);
    seen.insert(id);
    auto text = to_string(id);
    REQUIRE(text.size() == 36);
    CHECK(text[8] == '-');
    CHECK(text[14] == '4');
    auto back = parse_event_id(text);
    REQUIRE(back);
    CHECK(*back == id);
  }
  CHECK(seen.size() == 1000);
  CHECK_FALSE(parse_event_id("not-a-uuid"));
  CHECK_FALSE(parse_event_id("0123456789abcdef0123456789abcdef0123"));
}

TEST_CASE("an event's time comes from the injected clock in milliseconds") {
  manual_clock c{manual_clock::time_point{std::chrono::milliseconds{1'700'000'000'123}}};
  auto e = sample(c);
  CHECK(e.occurred_at_ms == 1'700'000'000'123);
  c.advance(std::chrono::seconds{2});
  CHECK(sample(c).occurred_at_ms == 1'700'000'002'123);
}

TEST_CASE("an event survives encode and decode unchanged") {
  manual_clock c;
  auto e = sample(c);
  auto bytes = encode(e);
  CHECK(bytes.at(0) == current_format_version);
  auto back = decode(bytes);
  REQUIRE(back);
  CHECK(*back == e);

  e.audience = {"user-1", "user-2"};
  auto with_audience = decode(encode(e));
  REQUIRE(with_audience);
  CHECK(with_audience->audience == e.audience);
  e.audience.clear();

  e.traceparent.clear();
  e.body_json = std::string(max_body_bytes, 'x');
  auto big = decode(encode(e));
  REQUIRE(big);
  CHECK(*big == e);
}

TEST_CASE("an unknown format version is refused with its own error") {
  manual_clock c;
  auto bytes = encode(sample(c));
  bytes[0] = current_format_version + 1;
  auto r = decode(bytes);
  REQUIRE_FALSE(r);
  CHECK(r.error() == events_errc::unknown_format_version);
  CHECK(describe(r.error()).wire_code == "event_format_unknown");
}

TEST_CASE("every truncation of a valid encoding is refused as malformed") {
  manual_clock c;
  auto bytes = encode(sample(c));
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto r = decode(std::span<const std::uint8_t>{bytes.data(), n});
    REQUIRE_FALSE(r);
    CHECK(r.error() == events_errc::malformed_event);
  }
  bytes.push_back(0);  // trailing garbage too
  CHECK_FALSE(decode(bytes));
}

TEST_CASE("random bytes and flipped bytes never crash decode") {
  manual_clock c;
  auto good = encode(sample(c));
  std::mt19937_64 rng{20261202};
  int decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> bytes;
    if (round % 2 == 0) {
      bytes.resize(rng() % 300);
      for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
      if (!bytes.empty() && round % 4 == 0) bytes[0] = current_format_version;
    } else {
      bytes = good;
      for (int flips = 0; flips < 3; ++flips)
        bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
    }
    auto r = decode(bytes);
    if (r) {
      ++decoded;
      CHECK_FALSE(validate(*r));  // whatever decodes is a valid event
    } else {
      CHECK(r.error().category() == events_category);
    }
  }
  // Some flips land in the body or the id and still decode; most random bytes do not.
  CHECK(decoded < 20000);
}

TEST_CASE("a length prefix of gigabytes is refused without allocating it") {
  manual_clock c;
  auto bytes = encode(sample(c));
  // After the version byte comes cereal's endianness byte, the 16-byte id, then the type's
  // 8-byte length.
  for (std::size_t i = 18; i < 26; ++i) bytes[i] = 0x7f;
  auto r = decode(bytes);
  REQUIRE_FALSE(r);
  CHECK(r.error() == events_errc::malformed_event);
}

TEST_CASE("validation refuses events that break the envelope rules") {
  manual_clock c;
  auto e = sample(c);
  CHECK_FALSE(validate(e));
  auto broken = [&](auto change) {
    auto x = e;
    change(x);
    return validate(x) == events_errc::invalid_event;
  };
  CHECK(broken([](event& x) { x.type = "banking.transfer"; }));
  CHECK(broken([](event& x) { x.type = "Banking.transfer.completed"; }));
  CHECK(broken([](event& x) { x.type = "banking..completed"; }));
  CHECK(broken([](event& x) { x.version = 0; }));
  CHECK(broken([](event& x) { x.aggregate_id.clear(); }));
  CHECK(broken([](event& x) { x.sequence = 0; }));
  CHECK(broken([](event& x) { x.body_json = std::string(max_body_bytes + 1, ' '); }));
  CHECK(broken([](event& x) { x.audience = {""}; }));
  CHECK(broken([](event& x) { x.audience.assign(max_audience + 1, "u"); }));
  CHECK(broken([](event& x) { x.audience = {std::string(max_audience_id_chars + 1, 'u')}; }));
}

TEST_CASE("the JSON form shows every field and embeds the body") {
  manual_clock c;
  auto e = sample(c);
  auto v = boost::json::parse(to_json(e)).as_object();
  CHECK(v.at("id").as_string() == to_string(e.id));
  CHECK(v.at("type").as_string() == "banking.transfer.completed");
  CHECK(v.at("version").to_number<int>() == 2);
  CHECK(v.at("aggregate_id").as_string() == "acct-42");
  CHECK(v.at("sequence").to_number<int>() == 7);
  CHECK(v.at("body").as_object().at("amount_minor").to_number<int>() == 1250);
  e.body_json = "not json";
  CHECK(boost::json::parse(to_json(e)).as_object().at("body").as_string() == "not json");
}

TEST_CASE("topics are named superapp.<domain>.events") {
  CHECK(topic_for_domain("banking") == "superapp.banking.events");
  CHECK(topic_for_domain("ecommerce") == "superapp.ecommerce.events");
}
