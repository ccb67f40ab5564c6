// SQL values, statements and results shared by every engine: the vocabulary of persistence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace superapp::persistence {

// Raw bytes; a distinct type so a blob never binds as text.
struct blob {
  std::vector<std::uint8_t> bytes;
  friend bool operator==(const blob&, const blob&) = default;
};

struct null_value {
  friend bool operator==(const null_value&, const null_value&) = default;
};

// No double on purpose: money is integer minor units, and nothing else needs floating point.
using value = std::variant<null_value, std::int64_t, std::string, blob>;

inline constexpr null_value null{};

// SQL text with $1..$N placeholders; params[0] binds $1. Both engines accept the same text.
struct statement {
  std::string sql;
  std::vector<value> params;
};

using row = std::vector<value>;

struct result {
  std::vector<std::string> columns;
  std::vector<row> rows;
  // Rows inserted, updated or deleted; for a query, the rows it returned (as PostgreSQL counts).
  std::int64_t rows_affected = 0;
};

// Rows to insert into one table: `values` holds each row's cells in `columns`' order, one row
// after another. The engine chooses how (ADR 0023): PostgreSQL loads a large set with COPY, one
// log record per page rather than per row; small sets, and SQLite, go as multi-row INSERTs.
// `table` and every column must be SQL identifiers; at most 127 columns.
struct row_set {
  std::string table;
  std::vector<std::string> columns;
  std::vector<value> values;

  std::size_t row_count() const { return columns.empty() ? 0 : values.size() / columns.size(); }
};

// One step of a unit of work: a statement, or (when `rows` is set) an insert of a row set, whose
// result counts the rows inserted. expected_rows_affected, when set, fails the whole unit on a
// mismatch (an optimistic-concurrency check such as "UPDATE ... WHERE version = $2" must hit 1).
struct write_step {
  statement stmt;
  std::optional<std::int64_t> expected_rows_affected;
  std::optional<row_set> rows;
};

// What the group-commit writer commits atomically: all steps or none.
struct unit_of_work {
  std::vector<write_step> steps;

  unit_of_work& add(statement stmt, std::optional<std::int64_t> expected_rows = std::nullopt) {
    steps.push_back({std::move(stmt), expected_rows, std::nullopt});
    return *this;
  }

  // Inserts every row of `rows`, or fails the unit. An empty set adds no step.
  unit_of_work& add_rows(row_set rows) {
    if (rows.row_count() == 0) return *this;
    auto n = static_cast<std::int64_t>(rows.row_count());
    steps.push_back({statement{}, n, std::move(rows)});
    return *this;
  }
};

// Typed accessors for reading result cells; they return nullopt on a type mismatch or NULL.
inline std::optional<std::int64_t> as_int(const value& v) {
  if (auto p = std::get_if<std::int64_t>(&v)) return *p;
  return std::nullopt;
}
inline std::optional<std::string> as_text(const value& v) {
  if (auto p = std::get_if<std::string>(&v)) return *p;
  return std::nullopt;
}
inline bool is_null(const value& v) { return std::holds_alternative<null_value>(v); }

// Cell `i` of a row whose columns are NOT NULL text / integers: "" or 0 for anything else.
inline std::string text_at(const row& r, std::size_t i) { return as_text(r[i]).value_or(""); }
inline std::int64_t int_at(const row& r, std::size_t i) { return as_int(r[i]).value_or(0); }

}  // namespace superapp::persistence
