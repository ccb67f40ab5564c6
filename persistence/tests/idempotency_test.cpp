// Idempotent replies on the engine under test: recorded with the effect, found again by key,
// a different request under a used key told apart, and a second record of one key refused.
#include "persistence/idempotency.hpp"

#include "persistence/db_errc.hpp"
#include "persistence/tests/test_database.hpp"

using namespace superapp;
using namespace superapp::persistence;
using namespace superapp::persistence::testing;

namespace {

std::unique_ptr<connection> migrated(test_database& t) {
  return connect_migrated(t, {idempotency_migration(5)});
}

// An effect (an item) and its reply, in one unit.
unit_of_work effect_with_reply(std::int64_t id, std::string_view key, std::string_view digest,
                               std::string_view reply) {
  unit_of_work unit;
  unit.add({"INSERT INTO items (id, label) VALUES ($1, $2)", {id, "item-" + std::to_string(id)}}, 1);
  record_reply(unit, idempotency_scope("u-1", "banking.transfer"), key, digest, reply, 1000);
  return unit;
}

}  // namespace

TEST_CASE("a reply is remembered with its effect and found again under its key and scope") {
  test_database t;
  auto conn = migrated(t);
  const auto scope = idempotency_scope("u-1", "banking.transfer");
  auto before = find_reply(*conn, scope, "key-00000001");
  REQUIRE(before);
  CHECK(judge_replay(*before, "d1") == replay_verdict::fresh);
  REQUIRE(commit_one(*conn, effect_with_reply(1, "key-00000001", "d1", R"({"ok":1})")));
  auto after = find_reply(*conn, scope, "key-00000001");
  REQUIRE(after);
  REQUIRE(after->has_value());
  CHECK((*after)->reply_json == R"({"ok":1})");
  CHECK(judge_replay(*after, "d1") == replay_verdict::replay);
  CHECK(judge_replay(*after, "d2") == replay_verdict::key_conflict);
  // Another user, or another op, with the same key is another request.
  auto other_user = find_reply(*conn, idempotency_scope("u-2", "banking.transfer"), "key-00000001");
  auto other_op = find_reply(*conn, idempotency_scope("u-1", "billers.pay"), "key-00000001");
  REQUIRE(other_user);
  REQUIRE(other_op);
  CHECK_FALSE(other_user->has_value());
  CHECK_FALSE(other_op->has_value());
}

TEST_CASE("a second record of the same key fails its whole unit, effect included") {
  test_database t;
  auto conn = migrated(t);
  REQUIRE(commit_one(*conn, effect_with_reply(1, "key-00000001", "d1", "{}")));
  auto second = commit_one(*conn, effect_with_reply(2, "key-00000001", "d1", "{}"));
  REQUIRE_FALSE(second);
  CHECK(second.error() == db_errc::unexpected_rows_affected);
  CHECK(count_items(*conn) == 1);
}

TEST_CASE("old replies are purged by age") {
  test_database t;
  auto conn = migrated(t);
  REQUIRE(commit_one(*conn, effect_with_reply(1, "key-00000001", "d1", "{}")));
  REQUIRE(conn->execute(purge_replies(999)));
  CHECK(find_reply(*conn, idempotency_scope("u-1", "banking.transfer"), "key-00000001")->has_value());
  REQUIRE(conn->execute(purge_replies(1001)));
  CHECK_FALSE(find_reply(*conn, idempotency_scope("u-1", "banking.transfer"), "key-00000001")->has_value());
}
