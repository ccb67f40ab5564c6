// Hashing workers and the SMS sender (see helpers.hpp).
#include "actors/identity/helpers.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "actors/identity/identity_errc.hpp"
#include "protocols/http/http_client.hpp"
#include "supervisors/node/logging.hpp"

namespace superapp::identity {

namespace {

// Once per hashing thread.
void place_thread(const hashing_placement& p) {
  static thread_local bool done = false;
  if (done) return;
  done = true;
  place_this_thread(p);
}

}  // namespace

void place_this_thread(const hashing_placement& p) {
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (!p.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int cpu : p.cpus) CPU_SET(cpu, &set);
    if (::sched_setaffinity(tid, sizeof set, &set) != 0)
      log::warn("identity: could not keep the hashing thread to identity.hashing_cpus");
  }
  sched_param param{};
  if (p.idle && ::sched_setscheduler(tid, SCHED_IDLE, &param) == 0) return;
  int nice = p.idle ? 19 : p.nice;
  if (nice > 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0)
    log::warn("identity: could not lower the hashing thread's priority");
}

hasher_actor::behavior_type hasher(hasher_actor::pointer, argon2_params params,
                                   hashing_placement placement) {
  return {
      [params, placement](hash_atom, std::string& secret) -> std::string {
        place_thread(placement);
        auto h = hash_secret(secret, params);
        sodium_wipe(secret);
        return h ? *h : std::string{};
      },
      [placement](verify_atom, const std::string& encoded, std::string& secret) -> bool {
        place_thread(placement);
        bool ok = verify_secret(encoded, secret);
        sodium_wipe(secret);
        return ok;
      },
  };
}

sms_actor::behavior_type sms_sender(sms_actor::pointer, std::string provider_url,
                                    std::chrono::milliseconds timeout) {
  auto at = http::parse_url(provider_url);
  if (!at) log::warn("identity: sms provider URL is not http://HOST:PORT; codes cannot be sent");
  return {
      [at, timeout](send_sms_atom, const std::string& to,
                    std::string& text) -> caf::result<bool> {
        if (!at) return make_error(identity_errc::sms_unavailable);
        auto body = boost::json::serialize(boost::json::object{{"to", to}, {"text", text}});
        sodium_wipe(text);
        auto r = http::post_json(*at, "/v1/messages", body, timeout);
        sodium_wipe(body);
        if (!r) {
          log::warn("identity: sms provider unreachable", {{"reason", r.failure}});
          return make_error(identity_errc::sms_unavailable);
        }
        if (r.reply->status / 100 != 2) {
          log::warn("identity: sms provider refused the message",
                    {{"status", static_cast<std::int64_t>(r.reply->status)}});
          return make_error(identity_errc::sms_unavailable);
        }
        return true;
      },
  };
}

}  // namespace superapp::identity
