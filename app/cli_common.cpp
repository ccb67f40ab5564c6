// URL parsing and the node file, for the command-line clients.
#include "app/cli_common.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

namespace superapp::app {

std::optional<endpoint_url> parse_url(std::string_view url, std::string_view scheme,
                                      std::string_view default_path) {
  if (!url.starts_with(scheme)) return std::nullopt;
  auto rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  endpoint_url out;
  out.path = slash == std::string_view::npos ? std::string{default_path}
                                             : std::string{rest.substr(slash)};
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size())
    return std::nullopt;
  out.host = authority.substr(0, colon);
  out.port = authority.substr(colon + 1);
  if (out.port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return out;
}

bool http_get(const endpoint_url& target, const std::string& token, const std::string& path,
              http_answer& answer, std::string& failure) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  using tcp = boost::asio::ip::tcp;
  try {
    boost::asio::io_context io;
    tcp::resolver resolver{io};
    beast::tcp_stream stream{io};
    stream.expires_after(std::chrono::seconds{5});
    stream.connect(resolver.resolve(target.host, target.port));
    http::request<http::empty_body> req{http::verb::get, path, 11};
    req.set(http::field::host, target.host);
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    answer.status = static_cast<int>(res.result_int());
    answer.body = res.body();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    return true;
  } catch (const std::exception& e) {
    failure = e.what();
    return false;
  }
}

bool write_private_file(const std::string& path, std::string_view content, std::string& failure) {
  auto parent = std::filesystem::path{path}.parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
  if (fd < 0) {
    failure = path + ": " + std::strerror(errno);
    return false;
  }
  std::size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      failure = path + ": " + std::strerror(errno);
      ::close(fd);
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    failure = path + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::string read_text_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string node_file_field(const std::string& data_dir, const char* field) {
  auto path = std::filesystem::path{data_dir} / "node.json";
  boost::system::error_code ec;
  auto info = boost::json::parse(read_text_file(path.string()), ec);
  if (ec || !info.is_object()) return {};
  auto* value = info.as_object().if_contains(field);
  return value != nullptr && value->is_string() ? std::string{value->as_string()} : std::string{};
}

}  // namespace superapp::app

namespace superapp::app {

std::string operator_token(const std::string& data_dir) {
  auto token = read_text_file((std::filesystem::path{data_dir} / "operator-token").string());
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  return token;
}

bool parse_integer(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t& out) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max)
    return false;
  out = value;
  return true;
}

}  // namespace superapp::app
