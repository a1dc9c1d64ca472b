#pragma once

#include "card_state.hpp"

#include "sdbox/common/apdu.hpp"
#include "sdbox/common/bytes.hpp"
#include "sdbox/common/crypto.hpp"
#include "sdbox/common/result.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>

namespace sdbox::softcard {

/// The PIV card application (NIST SP 800-73-4) of the emulator: turns command APDUs into
/// response APDUs against a CardState. Any change to persistent state is saved through
/// `persist` before the card answers; if saving fails the card answers 6581 and keeps the old
/// state, so a command either happened completely or not at all.
class PivApplet {
 public:
  using Persist = std::function<Status(const CardState&)>;

  PivApplet(CardState state, Persist persist);

  /// Power on, warm reset or power off: forgets everything volatile (PIN verified, management
  /// key authenticated, pending chains and responses).
  void reset();

  /// One command APDU in, one response APDU out (never fails: errors are status words).
  Bytes process(ByteView command);

  [[nodiscard]] const CardState& state() const { return state_; }

 private:
  struct Reply {
    Reply() : sw(apdu::sw::kOk) {}
    Reply(std::uint16_t status) : sw(status) {}  // NOLINT(google-explicit-constructor)
    Reply(std::uint16_t status, Bytes payload) : sw(status), data(std::move(payload)) {}
    std::uint16_t sw;
    Bytes data;
  };
  enum class ManagementStep { none, witness_issued, challenge_issued };

  Reply dispatch(const apdu::Command& command);
  Reply select(const apdu::Command& command);
  Reply get_data(const apdu::Command& command);
  Reply verify(const apdu::Command& command);
  Reply verify_finger(const apdu::Command& command);
  Reply write_finger_reference(const apdu::Command& command);
  Reply change_reference(const apdu::Command& command);
  Reply reset_retry_counter(const apdu::Command& command);
  Reply general_authenticate(const apdu::Command& command);
  Reply authenticate_management(const apdu::Command& command, ByteView template_value);
  Reply sign(const apdu::Command& command, ByteView template_value);
  Reply generate_key_pair(const apdu::Command& command);
  Reply put_data(const apdu::Command& command);
  Reply set_management_key(const apdu::Command& command);

  /// Tries `candidate` against a secret, saving the decremented counter first (a card that is
  /// pulled mid-VERIFY must not have given a free try). Empty reply data; 9000 on a match.
  Reply check_secret(Secret CardState::*which, ByteView candidate);
  /// Saves `next` as the new state; 6581 (memory failure) and no change when saving fails.
  Reply commit(CardState next, Reply on_success = Reply());
  Bytes discovery_object() const;
  Bytes bit_group() const;
  Bytes application_property_template() const;

  Bytes respond(Reply reply, std::size_t ne);

  CardState state_;
  Persist persist_;

  // Volatile: lost at every reset.
  bool pin_verified_ = false;
  bool finger_verified_ = false;
  bool pin_always_fresh_ = false;  // one signature with the digital signature key (9C)
  bool management_authenticated_ = false;
  ManagementStep management_step_ = ManagementStep::none;
  Bytes management_nonce_;
  std::optional<apdu::Command> chain_;
  Bytes pending_response_;
  // Decoded private keys, so a signature does not pay for PKCS#8 decoding; dropped with the key.
  std::map<std::uint8_t, crypto::PKey> decoded_keys_;
  std::uint16_t pending_sw_ = apdu::sw::kOk;
};

/// The ATR the emulator presents: T=1, with "SD-Box PIV" as historical bytes.
Bytes softcard_atr();

}  // namespace sdbox::softcard
