// The webhook relay: io thread -> relay actor -> the domain's front door -> the io thread's answer.
#include "gateway/pipeline/webhook_relay.hpp"

#include <boost/json.hpp>
#include <caf/all.hpp>

#include "protocols/error_catalogue.hpp"
#include "supervisors/counted.hpp"
#include "supervisors/node/logging.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::gateway::webhook_delivery)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(superapp::gateway::webhook_answer)

namespace superapp::gateway {
namespace {

using webhook_atom = caf::atom_constant<caf::atom("webhook")>;

std::string error_body(const caf::error& err) {
  auto d = describe(err);
  return boost::json::serialize(boost::json::object{
      {"error", boost::json::object{{"code", d.wire_code}, {"message", d.message}}}});
}

caf::behavior webhook_relay(caf::event_based_actor* self, std::shared_ptr<gateway_services> services) {
  return {
      [self, services](webhook_atom, webhook_delivery& d, webhook_answer& answer) {
        auto refuse = [answer, domain = d.domain](caf::error& err) {
          auto code = describe(err).wire_code;
          log::warn("gateway: a webhook was refused", {{"domain", domain}, {"code", code}});
          answer(webhook_status(code), error_body(err));
        };
        auto door = services->directory->lookup(d.domain);
        if (!door) {
          caf::error err = make_error(platform_errc::unavailable);
          return refuse(err);
        }
        op_request req;
        req.op = d.op;
        req.body_json = boost::json::serialize(boost::json::object{
            {"payload", d.payload}, {"timestamp", d.timestamp}, {"signature", d.signature}});
        if (services->caller_seal) services->caller_seal->seal(req);
        sup::admitted_request(
            self, door->gate, door->front_door, services->domain_timeout,
            [answer](op_reply& reply) { answer(200, std::move(reply.body_json)); }, refuse,
            op_atom::value, std::move(req));
      },
  };
}

}  // namespace

unsigned webhook_status(std::string_view code) {
  if (code == "webhook_signature_invalid" || code == "webhook_stale" || code == "unauthorized")
    return 401;
  if (code == "not_found") return 404;
  if (code == "webhook_conflict") return 409;
  if (code == "bad_request") return 400;
  if (code == "unavailable" || code == "overloaded" || code == "timeout" || code == "shutting_down" ||
      code == "storage_failure")
    return 503;
  return 500;
}

sup::child_spec webhook_relay_child(std::shared_ptr<gateway_services> services) {
  sup::child_spec c;
  c.id = "webhook_relay";
  c.start = [services = std::move(services)](caf::local_actor& parent,
                                             const caf::message&) -> caf::expected<caf::actor> {
    auto relay = sup::spawn_counted(parent, webhook_relay, services);
    services->webhook_relay.set(relay);
    return relay;
  };
  return c;
}

void relay_webhook(gateway_services& services, webhook_delivery delivery, webhook_answer answer) {
  auto relay = services.webhook_relay.get();
  if (!relay) {
    answer(503, error_body(make_error(platform_errc::unavailable)));
    return;
  }
  caf::anon_send(relay, webhook_atom::value, std::move(delivery), std::move(answer));
}

}  // namespace superapp::gateway
