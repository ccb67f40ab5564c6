// Partner registry parsing and scope grants.
#include "actors/identity/partners.hpp"

#include <algorithm>

#include "protocols/toml_data.hpp"

namespace superapp::identity {

namespace {

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool scope_shaped(std::string_view s) {
  auto sep = s.find_first_of(".:");
  if (sep == std::string_view::npos || sep == 0 || sep + 1 == s.size() || s.size() > 64) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (i == sep) continue;
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  }
  return true;
}

}  // namespace

std::optional<partner_registry> partner_registry::parse(std::string_view toml_text,
                                                        std::string& error) {
  auto doc = read_toml_data(toml_text, "partners", "partners", error);
  if (!doc) return std::nullopt;
  partner_registry out;
  const auto* all = doc->get_as<toml::table>("partners");
  if (all == nullptr) return out;  // no partners
  for (const auto& [id, entry] : *all) {
    std::string client_id{id.str()};
    std::string where = "partners." + client_id;
    const auto* t = entry.as_table();
    if (t == nullptr || client_id.empty() || client_id.size() > 64 ||
        !std::all_of(client_id.begin(), client_id.end(), id_char)) {
      error = where + ": a client id of [a-z0-9_-] (at most 64) and a table";
      return std::nullopt;
    }
    for (const auto& [key, value] : *t) {
      auto k = key.str();
      if (k != "name" && k != "secret_hash" && k != "scopes" && k != "quota_per_day") {
        error = where + ": unknown key '" + std::string{k} + "'";
        return std::nullopt;
      }
    }
    partner p;
    p.client_id = client_id;
    p.name = t->get("name") ? t->get("name")->value<std::string>().value_or("") : "";
    auto hash = t->get("secret_hash") ? t->get("secret_hash")->value<std::string>() : std::nullopt;
    if (!hash || hash->rfind("$argon2id$", 0) != 0) {
      error = where + ".secret_hash: an Argon2id hash (superapp admin partner-secret makes one)";
      return std::nullopt;
    }
    p.secret_hash = *hash;
    const auto* scopes = t->get("scopes") ? t->get("scopes")->as_array() : nullptr;
    if (scopes == nullptr) {
      error = where + ".scopes: an array of scopes";
      return std::nullopt;
    }
    for (const auto& s : *scopes) {
      auto text = s.value<std::string>();
      if (!text || !scope_shaped(*text) || *text == user_scope) {
        error = where + ".scopes: '" + text.value_or("?") +
                "' is not a partner scope (domain.verb or domain:verb; never 'user')";
        return std::nullopt;
      }
      p.scopes.push_back(*text);
    }
    auto quota = t->get("quota_per_day") ? t->get("quota_per_day")->value<std::int64_t>() : std::nullopt;
    if (!quota || *quota < 1) {
      error = where + ".quota_per_day: a whole number of requests per day, at least 1";
      return std::nullopt;
    }
    p.quota_per_day = *quota;
    out.partners.emplace(client_id, std::move(p));
  }
  return out;
}

const partner* partner_registry::find(std::string_view client_id) const {
  auto it = partners.find(client_id);
  return it == partners.end() ? nullptr : &it->second;
}

std::optional<std::vector<std::string>> grant_scopes(const partner& p, std::string_view requested) {
  if (requested.find_first_not_of(' ') == std::string_view::npos) return p.scopes;
  std::vector<std::string> out;
  while (!requested.empty()) {
    auto space = requested.find(' ');
    auto item = requested.substr(0, space);
    if (!item.empty()) {
      if (std::find(p.scopes.begin(), p.scopes.end(), item) == p.scopes.end()) return std::nullopt;
      if (std::find(out.begin(), out.end(), item) == out.end()) out.emplace_back(item);
    }
    if (space == std::string_view::npos) break;
    requested.remove_prefix(space + 1);
  }
  return out;
}

std::string partner_subject(std::string_view client_id) {
  return "partner:" + std::string{client_id};
}

}  // namespace superapp::identity
