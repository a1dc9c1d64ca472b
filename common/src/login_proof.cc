#include "sdbox/common/login_proof.hpp"

#include "sdbox/common/crypto.hpp"

namespace sdbox::login {

namespace {
void append_name(Bytes& to, std::string_view name) {
  const auto length = static_cast<std::uint16_t>(name.size());
  to.push_back(static_cast<std::uint8_t>(length >> 8));
  to.push_back(static_cast<std::uint8_t>(length & 0xFF));
  to.insert(to.end(), name.begin(), name.end());
}
}  // namespace

Bytes proof_digest(ByteView challenge, ByteView tunnel_exporter, std::string_view box, std::string_view project) {
  Bytes message = bytes_of("SD-Box login proof v1");
  message.push_back(0);
  append(message, challenge);
  append(message, tunnel_exporter);
  append_name(message, box.substr(0, 0xFFFF));
  append_name(message, project.substr(0, 0xFFFF));
  return crypto::sha256(message);
}

}  // namespace sdbox::login
