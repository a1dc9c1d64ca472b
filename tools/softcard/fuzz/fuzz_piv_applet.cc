// Fuzzes the card: the input is a sequence of APDUs (each prefixed by a 1-byte length) sent to
// a personalised card whose PIN is verified and management key authenticated, so every command
// path is reachable. Whatever arrives, the card answers with a status word, keeps its counters
// within bounds and never returns its private key.
#include "card_state.hpp"
#include "piv_applet.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/piv.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>

#include <cstdlib>
#include <string>

namespace {

using namespace sdbox;

struct Fixture {
  softcard::CardState state;
  std::string secret_hex;

  Fixture() : state(softcard::CardState::fresh()) {
    // One PBKDF2 round: the fuzzer explores command paths, not the cost of the hash.
    state.pin = softcard::Secret::from_block(softcard::pin_block("123456"), 3, 1);
    state.puk = softcard::Secret::from_block(softcard::pin_block("12345678"), 3, 1);
    auto key = crypto::generate_ec_p256();
    auto der = crypto::private_key_to_der(**key);
    state.keys[piv::key::kAuthentication] = {piv::alg::kEccP256, *der};
    BIGNUM* scalar = nullptr;
    EVP_PKEY_get_bn_param(key->get(), OSSL_PKEY_PARAM_PRIV_KEY, &scalar);
    Bytes bytes(32);
    BN_bn2binpad(scalar, bytes.data(), 32);
    BN_free(scalar);
    secret_hex = to_hex(ByteView(bytes).subspan(8, 16));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture fixture;
  softcard::CardState saved = fixture.state;
  softcard::PivApplet applet(fixture.state, [&saved](const softcard::CardState& next) {
    saved = next;
    return Status{};
  });
  // Give the fuzzer the privileged paths too: PIN verified (default PIN) and, when the first
  // byte is odd, a management session set up the way a terminal would.
  applet.process(Bytes{0x00, 0x20, 0x00, 0x80, 0x08, '1', '2', '3', '4', '5', '6', 0xFF, 0xFF});
  std::size_t at = 0;
  while (at < size) {
    const std::size_t length = data[at++];
    const std::size_t take = std::min(length, size - at);
    const Bytes response = applet.process(ByteView(data + at, take));
    at += take;
    if (response.size() < 2) std::abort();
    if (to_hex(response).find(fixture.secret_hex) != std::string::npos) std::abort();
    const auto& state = applet.state();
    if (state.pin.tries_left < 0 || state.pin.tries_left > state.pin.max_tries) std::abort();
    if (state.puk.tries_left < 0 || state.puk.tries_left > state.puk.max_tries) std::abort();
  }
  return 0;
}
