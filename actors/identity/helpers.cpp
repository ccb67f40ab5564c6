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

// Lowers the calling thread's priority once (Linux: nice and policy are per thread). Raising it
// would need privileges; lowering never does, so a failure is only logged.
void yield_cpu_to_others(int nice, bool idle) {
  static thread_local bool done = false;
  if (done) return;
  done = true;
  const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
  sched_param param{};
  if (idle && ::sched_setscheduler(tid, SCHED_IDLE, &param) == 0) return;
  if (idle) nice = 19;
  if (nice > 0 && ::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice) != 0)
    log::warn("identity: could not lower the hashing thread's priority");
}

}  // namespace

hasher_actor::behavior_type hasher(hasher_actor::pointer, argon2_params params, int nice,
                                   bool idle) {
  return {
      [params, nice, idle](hash_atom, std::string& secret) -> std::string {
        yield_cpu_to_others(nice, idle);
        auto h = hash_secret(secret, params);
        sodium_wipe(secret);
        return h ? *h : std::string{};
      },
      [nice, idle](verify_atom, const std::string& encoded, std::string& secret) -> bool {
        yield_cpu_to_others(nice, idle);
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
