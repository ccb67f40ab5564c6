// Internal: the engine constructors open_database() chooses between. Not for domain code.
#pragma once

#include <caf/expected.hpp>
#include <memory>
#include <string_view>

#include "persistence/connection.hpp"

namespace superapp::persistence::detail {

caf::expected<std::unique_ptr<database>> open_sqlite(const database_config& cfg,
                                                     std::string_view domain);
caf::expected<std::unique_ptr<database>> open_postgres(const database_config& cfg,
                                                       std::string_view domain);

// True for [a-z_][a-z0-9_]* up to max_chars: safe to splice into SQL as an identifier.
bool is_identifier(std::string_view name, std::size_t max_chars = 63);

}  // namespace superapp::persistence::detail
