// The AsyncAPI document and the code agree: ops, lanes, body schemas, limits and error codes.
#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "protocols/error_catalogue.hpp"
#include "protocols/ws/ops.hpp"

using namespace superapp;
using namespace superapp::ws;
namespace json = boost::json;

namespace {

// asyncapi.yaml is JSON-compatible YAML (JSON is YAML 1.2's flow style) with `#` comment lines;
// dropping those lines is all the YAML parsing this needs.
json::value load_document() {
  std::ifstream in{SUPERAPP_WS_ASYNCAPI_PATH};
  REQUIRE(in.good());
  std::string json_text, line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    json_text.append(line).push_back('\n');
  }
  return json::parse(json_text);
}

// Follows local "$ref": "#/..." pointers until a non-reference is reached.
const json::value& resolve(const json::value& doc, const json::value& v) {
  const json::value* at = &v;
  for (int hops = 0; hops < 8; ++hops) {
    const auto* obj = at->if_object();
    if (obj == nullptr || !obj->contains("$ref")) return *at;
    std::string_view ref = obj->at("$ref").as_string();
    REQUIRE(ref.substr(0, 1) == "#");
    at = &doc.at_pointer(ref.substr(1));
  }
  FAIL("$ref chain too long");
  return v;
}

const json::value* find_path(const json::value& v, std::string_view pointer) {
  boost::system::error_code ec;
  const auto* found = v.find_pointer(pointer, ec);
  return ec ? nullptr : found;
}

std::string text(const json::value& v) { return json::serialize(v); }

// Every way the document and the catalogue disagree, one line each.
std::vector<std::string> document_problems(const json::value& doc, const op_catalogue& ops) {
  std::vector<std::string> problems;
  const auto& operations = doc.at("operations").as_object();
  std::set<std::string> documented;
  for (const auto& kv : operations)
    if (kv.value().at("action") == "receive") documented.emplace(kv.key());
  for (const auto& op : ops.all())
    if (!documented.contains(op.name))
      problems.push_back("op " + op.name + " is in the catalogue but not in asyncapi.yaml");
  for (const auto& name : documented)
    if (ops.find(name) == nullptr)
      problems.push_back("op " + name + " is in asyncapi.yaml but not in the catalogue");

  for (const auto& op : ops.all()) {
    if (!documented.contains(op.name)) continue;
    const auto& operation = operations.at(op.name);
    const auto& request = resolve(doc, resolve(doc, operation.at("messages").at(0)));
    const auto& payload = resolve(doc, request.at("payload"));
    if (const auto* c = find_path(payload, "/properties/op/const"); !c || *c != op.name.c_str())
      problems.push_back(op.name + ": request payload's op is not const \"" + op.name + "\"");
    if (const auto* body = find_path(payload, "/properties/body");
        !body || resolve(doc, *body) != json::value(op.request.json_schema))
      problems.push_back(op.name + ": request body schema differs; the code emits " +
                         text(op.request.json_schema));
    bool key_required = false;
    if (const auto* required = find_path(payload, "/required"))
      for (const auto& r : required->as_array()) key_required |= r == "idempotency_key";
    if (key_required != op.idempotency_key_required)
      problems.push_back(op.name + ": idempotency_key required-ness differs");
    if (const auto* l = operation.as_object().if_contains("x-lane");
        !l || *l != std::string{to_string(op.lane)}.c_str())
      problems.push_back(op.name + ": x-lane differs from the catalogue");
    if (const auto* pub = operation.as_object().if_contains("x-public");
        !pub || !pub->is_bool() || pub->get_bool() != op.is_public)
      problems.push_back(op.name + ": x-public differs from the catalogue");
    const auto* scope = operation.as_object().if_contains("x-required-scope");
    if (op.required_scope.empty() ? scope != nullptr
                                  : (!scope || *scope != op.required_scope.c_str()))
      problems.push_back(op.name + ": x-required-scope differs from the catalogue");

    const auto* replies = find_path(operation, "/reply/messages");
    if (replies == nullptr || replies->as_array().size() != 2) {
      problems.push_back(op.name + ": reply must list the ok reply and error_reply");
      continue;
    }
    const auto& reply = resolve(doc, resolve(doc, replies->as_array().at(0)));
    const auto& reply_payload = resolve(doc, reply.at("payload"));
    if (const auto* body = find_path(reply_payload, "/properties/body");
        !body || resolve(doc, *body) != json::value(op.reply.json_schema))
      problems.push_back(op.name + ": reply body schema differs; the code emits " +
                         text(op.reply.json_schema));
    const auto& error = resolve(doc, replies->as_array().at(1));
    if (&error != &resolve(doc, doc.at_pointer("/components/messages/error_reply")))
      problems.push_back(op.name + ": second reply message is not error_reply");
  }
  return problems;
}

std::set<std::string> catalogue_wire_codes() {
  std::set<std::string> codes;
  auto last = static_cast<int>(last_platform_errc);
  for (int code = 1; code <= last; ++code)
    codes.emplace(describe(static_cast<platform_errc>(code)).wire_code);
  return codes;
}

}  // namespace

TEST_CASE("the AsyncAPI document is version 3.0 and parses") {
  auto doc = load_document();
  CHECK(doc.at("asyncapi") == "3.0.0");
  CHECK(find_path(doc, "/channels/session/address") != nullptr);
}

TEST_CASE("every op in the catalogue is documented exactly as the code decodes it") {
  auto doc = load_document();
  auto problems = document_problems(doc, protocol_ops());
  for (const auto& p : problems) FAIL_CHECK(p);
  CHECK(problems.empty());
}

TEST_CASE("an op added to the catalogue but not to the document is reported") {
  auto doc = load_document();
  auto ops = protocol_ops();
  ops.add(make_op("system.reboot", lane::query, "Undocumented.", empty_body_schema(),
                  empty_body_schema()));
  auto problems = document_problems(doc, ops);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "op system.reboot is in the catalogue but not in asyncapi.yaml");
}

TEST_CASE("an op whose public flag differs from the document is reported") {
  auto doc = load_document();
  doc.at_pointer("/operations/identity.login/x-public") = false;
  auto problems = document_problems(doc, protocol_ops());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "identity.login: x-public differs from the catalogue");
}

TEST_CASE("a documented body schema that drifts from the code is reported") {
  auto doc = load_document();
  doc.at_pointer("/components/schemas/ping_reply/properties/node/maxLength") = 10;
  auto problems = document_problems(doc, protocol_ops());
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].starts_with("system.ping: reply body schema differs"));
}

TEST_CASE("the error envelope lists every wire code of the catalogue and no other") {
  auto doc = load_document();
  const auto& codes =
      doc.at_pointer("/components/schemas/error_reply/properties/error/properties/code/enum");
  std::set<std::string> documented;
  for (const auto& c : codes.as_array()) documented.emplace(c.as_string());
  auto catalogue = catalogue_wire_codes();
  for (const auto& c : catalogue) CHECK_MESSAGE(documented.contains(c), "undocumented: " << c);
  for (const auto& c : documented) CHECK_MESSAGE(catalogue.contains(c), "not in catalogue: " << c);
  CHECK(codes.as_array().size() == documented.size());  // no duplicates
}

TEST_CASE("the envelope limits in the document are the code's constants") {
  auto doc = load_document();
  auto at = [&](std::string_view pointer) {
    return doc.at_pointer(pointer).to_number<std::int64_t>();
  };
  CHECK(at("/components/schemas/request_id/oneOf/0/maxLength") == std::int64_t{max_id_chars});
  CHECK(at("/components/schemas/idempotency_key/minLength") ==
        std::int64_t{min_idempotency_key_chars});
  CHECK(at("/components/schemas/idempotency_key/maxLength") ==
        std::int64_t{max_idempotency_key_chars});
  CHECK(at("/components/schemas/traceparent/minLength") == std::int64_t{traceparent_chars});
  CHECK(at("/components/schemas/event/properties/topic/maxLength") ==
        std::int64_t{max_topic_chars});
  CHECK(at("/info/x-limits/max_frame_bytes") == std::int64_t{max_frame_bytes});
  CHECK(at("/info/x-limits/max_json_depth") == std::int64_t{max_json_depth});
  CHECK(at("/info/x-limits/max_op_chars") == std::int64_t{max_op_chars});
}
