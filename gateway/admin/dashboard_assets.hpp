// The dashboard's page, script and style, embedded into the binary by the build
// (cmake/embed_assets.cmake turns gateway/admin/dashboard/* into a generated source file).
#pragma once

#include <string_view>

namespace superapp::admin {

struct dashboard_asset {
  std::string_view content_type;
  std::string_view body;
};

// By file name: "index.html", "app.js", "app.css"; nullptr for anything else.
const dashboard_asset* find_dashboard_asset(std::string_view name);

}  // namespace superapp::admin
