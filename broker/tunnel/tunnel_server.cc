#include "tunnel/tunnel_server.hpp"

#include "tunnel/desktop_relay.hpp"

#include "sdbox/common/frame_io.hpp"
#include "sdbox/common/log.hpp"
#include "sdbox/common/login_proof.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <atomic>
#include <list>

namespace sdbox::broker {

namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using Json = nlohmann::json;
using wire::Frame;
using wire::FrameType;
using TlsStream = ssl::stream<tcp::socket>;

constexpr std::string_view kBrokerVersion = "sdbox-broker 0.1.0";

Error startup_error(std::string message) { return make_error(ErrorCategory::config, std::move(message)); }

std::filesystem::file_time_type modified(const std::filesystem::path& path) {
  std::error_code ignored;
  return std::filesystem::last_write_time(path, ignored);
}

/// Everything the tunnels share that a revocation may change: rebuilt when a CRL file changes.
struct TrustSnapshot {
  std::shared_ptr<ssl::context> tls;
  crypto::Certificate users_ca;
  crypto::Crl users_crl;
  std::filesystem::file_time_type boxes_crl_time;
  std::filesystem::file_time_type users_crl_time;
};

Result<std::shared_ptr<TrustSnapshot>> load_trust(const Pki& pki) {
  auto snapshot = std::make_shared<TrustSnapshot>();
  snapshot->boxes_crl_time = modified(pki.crl(Pki::Authority::boxes));
  snapshot->users_crl_time = modified(pki.crl(Pki::Authority::users));
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = tls->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
  SSL_CTX_set1_groups_list(native, "P-256");
  SSL_CTX_set_ciphersuites(native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
  // No resumption: every tunnel proves the box's certificate afresh (and is checked again).
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  // Idle tunnels give their buffers back: 10,000 boxes waiting for a card cost little.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  boost::system::error_code error;
  tls->use_certificate_chain_file(pki.server_certificate().string(), error);
  if (!error) tls->use_private_key_file(pki.server_key().string(), ssl::context::pem, error);
  if (!error) tls->load_verify_file(pki.ca_certificate(Pki::Authority::boxes).string(), error);
  if (error) return startup_error(fmt::format("loading the broker's TLS identity from {}: {}", pki.directory().string(),
                                              crypto::last_openssl_error()));
  auto boxes_crl = crypto::crl_from_pem_file(pki.crl(Pki::Authority::boxes));
  if (!boxes_crl) return boxes_crl.error();
  X509_STORE* store = SSL_CTX_get_cert_store(native);
  X509_STORE_add_crl(store, boxes_crl->get());
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  snapshot->tls = std::move(tls);

  auto users_ca = crypto::certificate_from_pem_file(pki.ca_certificate(Pki::Authority::users));
  if (!users_ca) return users_ca.error();
  snapshot->users_ca = std::move(*users_ca);
  auto users_crl = crypto::crl_from_pem_file(pki.crl(Pki::Authority::users));
  if (!users_crl) return users_crl.error();
  snapshot->users_crl = std::move(*users_crl);
  return snapshot;
}

std::string reason_for_verify_error(long code) {
  switch (code) {
    case X509_V_ERR_CERT_REVOKED: return tunnel_refusal::kBoxRevoked;
    case X509_V_ERR_CERT_HAS_EXPIRED: return tunnel_refusal::kCertificateExpired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return tunnel_refusal::kCertificateNotYetValid;
    default: return tunnel_refusal::kWrongCa;
  }
}


/// One tunnel. Its coroutine owns it; the watchdog closes the socket when the deadline passes,
/// which ends whatever read or write is pending.
struct Tunnel : std::enable_shared_from_this<Tunnel> {
  Tunnel(tcp::socket socket, std::shared_ptr<TrustSnapshot> trust_snapshot)
      : trust(std::move(trust_snapshot)),
        stream(std::move(socket), *trust->tls),
        writer(stream),
        deadline(stream.get_executor()) {}

  std::shared_ptr<TrustSnapshot> trust;
  TlsStream stream;
  /// Every frame the broker sends after the hello goes through here: in a desktop session the
  /// relay, the pongs and the broker's own messages share the stream.
  wire::FrameWriter<TlsStream> writer;
  asio::steady_timer deadline;
  bool timed_out = false;
  bool finished = false;
  long verify_error = X509_V_OK;
  std::string claimed_name;
  std::string peer;
  /// Set once the box's hello is answered: from then on the tunnel is listed as live.
  std::optional<LiveTunnel> live;
  /// The desktop view open now through this tunnel, and its relay.
  std::optional<LiveView> view;
  std::weak_ptr<DesktopRelay> relay;
  /// The broker is closing this tunnel (the box was revoked): nothing the box sends is served.
  std::optional<Ending> cut;

  void seen(TimePoint now) {
    if (live) live->last_seen = now;
  }

  void expire_after(std::chrono::steady_clock::duration after) { deadline.expires_after(after); }

  void close() {
    boost::system::error_code ignored;
    stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
    stream.lowest_layer().close(ignored);
  }
};

/// The server's state, shared with its coroutines: each holds a reference, so whatever is still
/// pending when the owner lets go finds the object alive (and, once stopped, touches nothing
/// outside it: no store, no audit).
class TunnelServerCore final : public std::enable_shared_from_this<TunnelServerCore> {
 public:
  using Config = TunnelServer::Config;
  TunnelServerCore(Config config, std::shared_ptr<TrustSnapshot> trust, tcp::acceptor acceptor, GatewayIdentity gateway_identity)
      : config_(std::move(config)), pki_(config_.pki_directory), trust_(std::move(trust)),
        acceptor_(std::move(acceptor)), gateway_identity_(std::move(gateway_identity)) {}

  void start() { asio::co_spawn(config_.executor, accept_loop(shared_from_this()), log::coroutine_failure("tunnel", "accept")); }

  void stop() {
    stopping_ = true;
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    for (auto& weak : tunnels_) {
      if (auto tunnel = weak.lock()) tunnel->close();
    }
  }

  [[nodiscard]] tcp::endpoint local_endpoint() const {
    boost::system::error_code ignored;
    return acceptor_.local_endpoint(ignored);
  }
  [[nodiscard]] std::size_t open_tunnels() const { return open_; }

  [[nodiscard]] std::vector<LiveTunnel> live_tunnels() const {
    std::vector<LiveTunnel> live;
    for (const auto& weak : tunnels_) {
      if (auto tunnel = weak.lock(); tunnel && tunnel->live && !tunnel->finished) live.push_back(*tunnel->live);
    }
    return live;
  }

  [[nodiscard]] std::vector<LiveView> live_views() const {
    std::vector<LiveView> views;
    for (const auto& weak : tunnels_) {
      if (auto tunnel = weak.lock(); tunnel && tunnel->view && !tunnel->finished) views.push_back(*tunnel->view);
    }
    return views;
  }

  bool end_view(std::int64_t session, const Ending& why) {
    for (const auto& weak : tunnels_) {
      auto tunnel = weak.lock();
      if (!tunnel || !tunnel->view || tunnel->view->session != session) continue;
      if (auto relay = tunnel->relay.lock(); relay && relay->end(why.reason, why.message)) {
        log::component("tunnel")->info("ending a view {}", log::Fields()
                                                              .add("session", session)
                                                              .add("box", tunnel->view->box)
                                                              .add("user", tunnel->view->user)
                                                              .add("reason", why.reason));
        return true;
      }
    }
    return false;
  }

  std::size_t close_box(const std::string& box, const Ending& why) {
    std::size_t closing = 0;
    for (const auto& weak : tunnels_) {
      auto tunnel = weak.lock();
      if (!tunnel || !tunnel->live || tunnel->live->box != box || tunnel->finished || tunnel->cut) continue;
      tunnel->cut = why;
      asio::co_spawn(acceptor_.get_executor(), cut(tunnel, why), log::coroutine_failure("tunnel", "cut"));
      ++closing;
    }
    return closing;
  }

 private:
  void audit(const std::string& action, const std::string& outcome, Json details) {
    if (stopping_) return;  // the store may be gone once the owner has stopped the server
    if (auto written = config_.store->audit({"broker", action, outcome, std::move(details)}); !written) {
      log::component("tunnel")->error("audit failed action={} error=\"{}\"", action, written.error().describe());
    }
  }

  /// The CRLs may have been rewritten by `sdboxctl ... revoke`: new tunnels use the new ones.
  std::shared_ptr<TrustSnapshot> current_trust() {
    if (modified(pki_.crl(Pki::Authority::boxes)) != trust_->boxes_crl_time ||
        modified(pki_.crl(Pki::Authority::users)) != trust_->users_crl_time) {
      if (auto reloaded = load_trust(pki_)) {
        trust_ = *reloaded;
        log::component("tunnel")->info("revocation lists reloaded");
      } else {
        log::component("tunnel")->error("cannot reload the revocation lists: {}", reloaded.error().describe());
      }
    }
    return trust_;
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<TunnelServerCore> self) {
    while (!stopping_) {
      auto [error, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (error) {
        if (stopping_ || error == asio::error::operation_aborted) co_return;
        log::component("tunnel")->warn("accept failed: {}", error.message());
        continue;
      }
      socket.set_option(tcp::no_delay(true), error);
      auto tunnel = std::make_shared<Tunnel>(std::move(socket), current_trust());
      tunnels_.remove_if([](const std::weak_ptr<Tunnel>& weak) { return weak.expired(); });
      tunnels_.push_back(tunnel);
      asio::co_spawn(acceptor_.get_executor(), watchdog(tunnel), log::coroutine_failure("tunnel", "watchdog"));
      asio::co_spawn(acceptor_.get_executor(), serve(self, tunnel), log::coroutine_failure("tunnel", "tunnel"));
    }
  }

  /// Tells the box why (its view ends first), then closes the tunnel. A box that stops reading
  /// cannot hold this up: the watchdog closes the socket 2 s later whatever happens.
  asio::awaitable<void> cut(std::shared_ptr<Tunnel> tunnel, Ending why) {
    tunnel->expire_after(std::chrono::seconds(2));
    log::component("tunnel")->warn("closing a tunnel {}", log::Fields().add("box", tunnel->live->box).add("reason", why.reason));
    asio::steady_timer pause(acceptor_.get_executor());
    if (auto relay = tunnel->relay.lock()) {
      relay->end(why.reason, why.message);
      relay.reset();
      // The box acknowledges the end of its view; then the refusal reaches a box back at its login screen.
      for (int waited = 0; waited < 50 && !tunnel->relay.expired() && !tunnel->finished; ++waited) {
        pause.expires_after(std::chrono::milliseconds(10));
        (void)co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      }
    }
    if (!tunnel->finished) {
      const Frame refusal{FrameType::refusal, {{"reason", why.reason}, {"message", why.message}}};
      (void)co_await tunnel->writer.write(refusal);
    }
    tunnel->close();
  }

  static asio::awaitable<void> watchdog(std::shared_ptr<Tunnel> tunnel) {
    while (!tunnel->finished) {
      // Woken by expiry or by a new deadline (cancelled wait): the expiry time tells which.
      (void)co_await tunnel->deadline.async_wait(asio::as_tuple(asio::use_awaitable));
      if (tunnel->finished) co_return;
      if (tunnel->deadline.expiry() <= std::chrono::steady_clock::now()) {
        tunnel->timed_out = true;
        tunnel->close();
        co_return;
      }
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<TunnelServerCore> self, std::shared_ptr<Tunnel> tunnel) {
    (void)self;  // held so this object outlives the coroutine
    ++open_;
    boost::system::error_code ignored;
    const auto remote = tunnel->stream.lowest_layer().remote_endpoint(ignored);
    tunnel->peer = fmt::format("{}:{}", remote.address().to_string(), remote.port());
    co_await run(*tunnel);
    tunnel->finished = true;
    tunnel->deadline.cancel();
    tunnel->close();
    if (tunnel->live && !stopping_) {
      if (auto recorded = config_.store->record_box_contact(tunnel->live->box, config_.clock->now()); !recorded) {
        log::component("tunnel")->warn("cannot record the box's last contact box={} error=\"{}\"", tunnel->live->box,
                                       recorded.error().describe());
      }
    }
    --open_;
  }

  asio::awaitable<void> refuse(Tunnel& tunnel, const std::string& box, const std::string& reason,
                               const std::string& message) {
    audit("tunnel.refused", "refused", {{"box", box}, {"peer", tunnel.peer}, {"reason", reason}});
    log::component("tunnel")->warn("tunnel refused {}",
                                   log::Fields().add("box", box).add("peer", tunnel.peer).add("reason", reason));
    tunnel.expire_after(std::chrono::seconds(2));
    // Frames are built before co_await: g++ 12 cannot keep literal temporaries across a suspension.
    const Frame refusal{FrameType::refusal, {{"reason", reason}, {"message", message}}};
    (void)co_await wire::write_frame(tunnel.stream, refusal);
    auto [error] = co_await tunnel.stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
    (void)error;
  }

  asio::awaitable<void> run(Tunnel& tunnel) {
    if (stopping_) co_return;
    tunnel.stream.set_verify_callback([&tunnel](bool preverified, ssl::verify_context& context) {
      X509_STORE_CTX* native = context.native_handle();
      if (X509_STORE_CTX_get_error_depth(native) == 0 && tunnel.claimed_name.empty()) {
        if (X509* certificate = X509_STORE_CTX_get_current_cert(native)) {
          tunnel.claimed_name = crypto::certificate_common_name(*certificate);
        }
      }
      if (!preverified && tunnel.verify_error == X509_V_OK) tunnel.verify_error = X509_STORE_CTX_get_error(native);
      return preverified;
    });
    tunnel.expire_after(config_.settings.handshake_timeout);
    auto [handshake_error] =
        co_await tunnel.stream.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (handshake_error) {
      std::string reason = tunnel_refusal::kHandshakeFailed;
      if (tunnel.timed_out) reason = tunnel_refusal::kTimeout;
      else if (tunnel.verify_error != X509_V_OK) reason = reason_for_verify_error(tunnel.verify_error);
      else if (SSL_get_peer_certificate(tunnel.stream.native_handle()) == nullptr &&
               handshake_error.message().find("certificate") != std::string::npos) {
        reason = tunnel_refusal::kNoCertificate;
      }
      const std::string claimed = tunnel.claimed_name.empty() ? "-" : tunnel.claimed_name;
      audit("tunnel.refused", "refused",
            {{"claimed_box", claimed}, {"peer", tunnel.peer}, {"reason", reason}, {"detail", handshake_error.message()}});
      log::component("tunnel")->warn("handshake refused {}", log::Fields()
                                                                 .add("claimed_box", claimed)
                                                                 .add("peer", tunnel.peer)
                                                                 .add("reason", reason)
                                                                 .add("detail", handshake_error.message()));
      co_return;
    }

    // The certificate is from our boxes CA and not on the CRL; now the store decides.
    X509* certificate = SSL_get0_peer_certificate(tunnel.stream.native_handle());
    const std::string name = crypto::certificate_common_name(*certificate);
    auto box = config_.store->box(name);
    if (!box) {
      co_await refuse(tunnel, name, tunnel_refusal::kBoxUnknown,
                      "This box is not registered with the broker. Contact your IT administrator.");
      co_return;
    }
    if (box->certificate_serial != crypto::certificate_serial_hex(*certificate)) {
      co_await refuse(tunnel, name, tunnel_refusal::kCertificateReplaced,
                      "This box's certificate has been replaced. Contact your IT administrator.");
      co_return;
    }
    if (box->state != BoxState::active) {
      co_await refuse(tunnel, name, tunnel_refusal::kBoxRevoked,
                      "This box has been revoked. Contact your IT administrator.");
      co_return;
    }

    tunnel.expire_after(config_.settings.handshake_timeout);
    auto hello = co_await wire::read_frame(tunnel.stream);
    if (!hello || hello->type != FrameType::hello) {
      if (!tunnel.timed_out && hello) {
        co_await refuse(tunnel, name, tunnel_refusal::kProtocol, "The first frame must be hello.");
      } else {
        audit("tunnel.refused", "refused",
              {{"box", name}, {"peer", tunnel.peer},
               {"reason", tunnel.timed_out ? tunnel_refusal::kTimeout : tunnel_refusal::kProtocol}});
      }
      co_return;
    }
    Bytes exporter(login::kExporterSize);
    if (SSL_export_keying_material(tunnel.stream.native_handle(), exporter.data(), exporter.size(),
                                   login::kExporterLabel.data(), login::kExporterLabel.size(), nullptr, 0, 0) != 1) {
      log::component("tunnel")->error("TLS exporter failed box={}", name);
      co_return;
    }
    audit("tunnel.open", "ok", {{"box", name}, {"site", box->site}, {"peer", tunnel.peer}});
    log::component("tunnel")->info("tunnel open {}", log::Fields().add("box", name).add("site", box->site).add("peer", tunnel.peer));
    const Frame hello_reply{FrameType::hello,
                            {{"broker", kBrokerVersion},
                             {"box", name},
                             {"site", box->site},
                             {"keepalive_s", config_.settings.keepalive_interval.count()}}};
    auto sent = co_await tunnel.writer.write(hello_reply);
    if (!sent) co_return;
    const auto opened = config_.clock->now();
    tunnel.live = LiveTunnel{name, box->site, tunnel.peer, opened, opened};
    if (auto recorded = config_.store->record_box_contact(name, opened); !recorded) {
      log::component("tunnel")->warn("cannot record the box's last contact box={} error=\"{}\"", name,
                                     recorded.error().describe());
    }

    LoginSession login({config_.store, config_.clock, config_.policy,
                        CardAuthority{tunnel.trust->users_ca.get(), tunnel.trust->users_crl.get()}, name, box->site,
                        exporter, config_.login_finished});
    for (;;) {
      tunnel.expire_after(config_.settings.idle_timeout);
      auto frame = co_await wire::read_frame(tunnel.stream);
      if (frame) tunnel.seen(config_.clock->now());
      if (tunnel.cut) {
        if (!frame) {
          audit("tunnel.close", "ok", {{"box", name}, {"peer", tunnel.peer}, {"reason", tunnel.cut->reason}});
          co_return;
        }
        continue;  // being closed by the broker: nothing more is served
      }
      if (!frame) {
        const bool protocol = frame.error().category == ErrorCategory::tunnel && frame.error().code == 0;
        if (protocol) {
          co_await refuse(tunnel, name, tunnel_refusal::kProtocol, frame.error().message);
        } else {
          audit("tunnel.close", "ok",
                {{"box", name}, {"peer", tunnel.peer}, {"reason", tunnel.timed_out ? "idle_timeout" : "closed_by_box"}});
        }
        co_return;
      }
      if (frame->type == FrameType::ping) {
        const Frame pong{FrameType::pong, Json::object()};
        if (!co_await tunnel.writer.write(pong)) co_return;
        continue;
      }
      if (frame->type == FrameType::bye) {
        audit("tunnel.close", "ok", {{"box", name}, {"peer", tunnel.peer}, {"reason", "bye"}});
        co_return;
      }
      // The tail of a desktop session that has just ended (the box's client was still writing).
      if (frame->type == FrameType::desktop_data || frame->type == FrameType::desktop_close) continue;
      auto reply = login.handle(*frame);
      if (reply.frame && reply.frame->type == FrameType::session_ready && login.assignment()) {
        if (!co_await serve_desktop(tunnel, *login.assignment(), *reply.frame)) co_return;
        continue;
      }
      if (reply.frame && !co_await tunnel.writer.write(*reply.frame)) co_return;
      if (reply.close_tunnel) co_return;
    }
  }

  /// After "session ready": starts this connection's gateway, tells the box how to reach it
  /// (its certificate and one-time credentials in the session_ready frame), relays until the view
  /// ends. False when the tunnel must close. (The work around the relay is in plain functions:
  /// g++ 12 misreads this coroutine's frame as a mismatched new/delete when they are inline.)
  asio::awaitable<bool> serve_desktop(Tunnel& tunnel, const LoginSession::Assignment& assignment, Frame ready) {
    auto relay = start_desktop(tunnel, assignment, ready);
    if (!relay) {
      auto refused = co_await tunnel.writer.write(ready);  // now a refusal
      co_return refused.ok();
    }
    auto sent = co_await tunnel.writer.write(ready);
    if (!sent) co_return false;
    auto result = co_await relay->run();
    co_return finish_desktop(tunnel, assignment.session, relay, result);
  }

  /// Launches the gateway and its relay; completes `ready` (or turns it into a refusal).
  std::shared_ptr<DesktopRelay> start_desktop(Tunnel& tunnel, const LoginSession::Assignment& assignment, Frame& ready) {
    const auto& session = assignment.session;
    const std::map<std::string, std::string> context{{"session", std::to_string(session.id)},
                                                     {"user", session.user},
                                                     {"box", session.box},
                                                     {"project", session.project}};
    GatewaySettings settings;
    settings.desktop.host = assignment.desktop.host;
    settings.desktop.port = assignment.desktop.port;
    settings.desktop.pinned_certificate_sha256 = assignment.desktop.certificate_sha256;
    settings.desktop.user = assignment.account.login;
    settings.desktop.password = assignment.account.secret;
    settings.certificate_pem = gateway_identity_.certificate_pem;
    settings.private_key_pem = gateway_identity_.private_key_pem;
    settings.box_user = "sdbox";
    settings.box_password = to_hex(crypto::random_bytes(16));
    settings.context = context;

    // One live view per person: a login elsewhere takes the desktop over.
    if (auto found = live_views_.find(session.user); found != live_views_.end()) {
      if (auto previous = found->second.lock()) {
        audit("desktop.taken_over", "ok", {{"user", session.user}, {"by_box", session.box}, {"session", session.id}});
        previous->end(session_end::kTakenOver);
      }
    }
    auto launched = config_.gateways->launch(settings);
    if (!launched) {
      log::component("desktop")->error("cannot start a gateway {}",
                                       log::Fields().add("session", session.id).add("error", launched.error().message));
      audit("desktop.gateway_failed", "failed", {{"session", session.id}, {"user", session.user}, {"box", session.box}});
      ready = Frame{FrameType::refusal,
                    {{"reason", session_end::kGatewayFailed},
                     {"message", "The desktop cannot be reached. Try again, or contact your IT administrator."}}};
      return nullptr;
    }
    auto relay = DesktopRelay::create({&tunnel.stream, &tunnel.writer, tunnel.shared_from_this(), *launched, context,
                                       [this](const std::string& action, const std::string& outcome, Json details) {
                                         if (action == "desktop.blocked_channel" && config_.channel_blocked) {
                                           config_.channel_blocked(details.value("channel", ""));
                                         }
                                         audit(action, outcome, std::move(details));
                                       },
                                       [&tunnel, idle = config_.settings.idle_timeout, clock = config_.clock] {
                                         tunnel.expire_after(idle);
                                         tunnel.seen(clock->now());
                                       }});
    live_views_[session.user] = relay;
    tunnel.relay = relay;
    tunnel.view = LiveView{session.id, session.user, session.box, tunnel.live ? tunnel.live->site : std::string(),
                           session.project, assignment.card_serial, config_.clock->now()};
    ready.body["gateway"] = {{"certificate_sha256", gateway_identity_.certificate_sha256},
                             {"user", settings.box_user},
                             {"password", settings.box_password}};
    return relay;
  }

  /// "Close session" on the box: the member's session on the desktop ends (its programs stop).
  void logoff(const Session& session) {
    (void)log_member_off(*config_.store, *config_.desktops, session, "broker");
    if (auto ended = config_.store->end_session(session.id, "logged_off", "broker"); !ended) {
      log::component("desktop")->error("cannot end the session in the store {}",
                                       log::Fields().add("session", session.id).add("error", ended.error().message));
    }
  }

  bool finish_desktop(Tunnel& tunnel, const Session& session, const std::shared_ptr<DesktopRelay>& relay,
                      const DesktopRelay::Result& result) {
    if (auto found = live_views_.find(session.user); found != live_views_.end() && found->second.lock() == relay) {
      live_views_.erase(found);
    }
    tunnel.view.reset();
    tunnel.relay.reset();
    const Json who{{"session", session.id}, {"user", session.user}, {"box", session.box}};
    switch (result.outcome) {
      case DesktopRelay::Outcome::box_disconnected:
        audit("desktop.disconnected", "ok", who);
        return true;
      case DesktopRelay::Outcome::box_logoff:
        logoff(session);
        return true;
      case DesktopRelay::Outcome::ended_by_broker:
        return true;  // audited by the relay, with its reason
      case DesktopRelay::Outcome::tunnel_closed:
        break;
    }
    audit("tunnel.close", "ok", {{"box", session.box}, {"peer", tunnel.peer}, {"reason", result.reason}});
    return false;
  }

  Config config_;
  Pki pki_;
  std::shared_ptr<TrustSnapshot> trust_;
  tcp::acceptor acceptor_;
  std::list<std::weak_ptr<Tunnel>> tunnels_;
  /// The live desktop view of each person (user login), for take-over.
  std::map<std::string, std::weak_ptr<DesktopRelay>> live_views_;
  GatewayIdentity gateway_identity_;
  std::size_t open_ = 0;
  bool stopping_ = false;
};

class TunnelServerImpl final : public TunnelServer {
 public:
  explicit TunnelServerImpl(std::shared_ptr<TunnelServerCore> core) : core_(std::move(core)) {}
  ~TunnelServerImpl() override { core_->stop(); }
  TunnelServerImpl(const TunnelServerImpl&) = delete;
  TunnelServerImpl& operator=(const TunnelServerImpl&) = delete;
  void start() override { core_->start(); }
  void stop() override { core_->stop(); }
  [[nodiscard]] tcp::endpoint local_endpoint() const override { return core_->local_endpoint(); }
  [[nodiscard]] std::size_t open_tunnels() const override { return core_->open_tunnels(); }
  [[nodiscard]] std::size_t gateway_processes() const override { return core_->live_views().size(); }
  [[nodiscard]] std::vector<LiveTunnel> tunnels() const override { return core_->live_tunnels(); }
  [[nodiscard]] std::vector<LiveView> views() const override { return core_->live_views(); }
  bool end_view(std::int64_t session, const Ending& why) override { return core_->end_view(session, why); }
  std::size_t close_box(const std::string& box, const Ending& why) override { return core_->close_box(box, why); }

 private:
  std::shared_ptr<TunnelServerCore> core_;
};

}  // namespace

Result<std::unique_ptr<TunnelServer>> TunnelServer::create(Config config) {
  if (config.store == nullptr || config.clock == nullptr || config.gateways == nullptr || config.desktops == nullptr) {
    throw std::invalid_argument("TunnelServer needs a store, a clock, a gateway launcher and a desktop provider");
  }
  auto gateway_identity = GatewayIdentity::generate();
  if (!gateway_identity) return gateway_identity.error();
  auto trust = load_trust(Pki(config.pki_directory));
  if (!trust) return trust.error();
  tcp::acceptor acceptor(config.executor);
  boost::system::error_code error;
  acceptor.open(config.listen.protocol(), error);
  if (!error) acceptor.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor.bind(config.listen, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    return make_error(ErrorCategory::io, fmt::format("cannot listen on {}:{}: {}", config.listen.address().to_string(),
                                                     config.listen.port(), error.message()));
  }
  return std::unique_ptr<TunnelServer>(new TunnelServerImpl(
      std::make_shared<TunnelServerCore>(std::move(config), std::move(*trust), std::move(acceptor), std::move(*gateway_identity))));
}

Result<GatewayIdentity> GatewayIdentity::generate() {
  auto key = crypto::generate_ec_p256();
  if (!key) return key.error();
  crypto::CertificateRequest request;
  request.common_name = "sdbox-gateway";
  request.server_auth = true;
  request.validity = std::chrono::hours(24 * 365);
  auto certificate = crypto::issue_certificate(request, **key, **key, nullptr);
  if (!certificate) return certificate.error();
  auto digest = crypto::certificate_fingerprint(**certificate);
  if (!digest) return digest.error();
  return GatewayIdentity{crypto::certificate_to_pem(**certificate), crypto::private_key_to_pem(**key), *digest};
}

}  // namespace sdbox::broker
