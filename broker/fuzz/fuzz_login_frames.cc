// libFuzzer target: a box sending any sequence of frames to the login. The input is cut into
// frames by their headers; each one the codec accepts goes to a LoginSession over an in-memory
// store. The login must answer or refuse, never crash, and never open a session: the fuzzer
// cannot sign with the card's key.
#include "login/login_session.hpp"
#include "store/sqlite_store.hpp"

#include "sdbox/common/frame.hpp"

#include <cstdlib>

namespace {

using namespace sdbox;

struct World {
  SystemClock clock;
  std::unique_ptr<broker::SqliteStore> store;
  crypto::Certificate users_ca;

  World() {
    auto opened = broker::SqliteStore::create({":memory:", &clock});
    if (!opened) std::abort();
    store = std::move(*opened);
    auto key = crypto::generate_ec_p256();
    crypto::CertificateRequest request;
    request.common_name = "fuzz users CA";
    request.is_ca = true;
    users_ca = std::move(*crypto::issue_certificate(request, **key, **key, nullptr));
    (void)store->add_site("site", "fuzz");
    (void)store->add_user({0, "alice", "Alice", broker::UserState::active, {}}, "fuzz");
    (void)store->add_project({0, "census", "Census"}, "fuzz");
    (void)store->set_desktop({"census", "127.0.0.1", 3389}, "fuzz");
    (void)store->set_desktop_account({"census", "alice", "alice", "desktop password"}, "fuzz");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  broker::LoginSession login({world.store.get(), &world.clock, {}, {world.users_ca.get(), nullptr}, "box-1", "site",
                              Bytes(32, 0x5A)});
  ByteView rest(data, size);
  while (rest.size() >= wire::kHeaderSize) {
    auto header = wire::decode_header(rest.first(wire::kHeaderSize));
    if (!header || rest.size() < wire::kHeaderSize + header->payload_size) break;
    auto frame = wire::decode_body(header->type, rest.subspan(wire::kHeaderSize, header->payload_size));
    rest = rest.subspan(wire::kHeaderSize + header->payload_size);
    if (!frame) continue;
    auto reply = login.handle(*frame);
    if (reply.frame && reply.frame->type == wire::FrameType::session_ready) std::abort();
    if (reply.close_tunnel) break;
  }
  return 0;
}
