#pragma once

#include "sdbox/common/apdu.hpp"
#include "sdbox/common/bytes.hpp"
#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/result.hpp"

#include <cstdint>
#include <string_view>
#include <vector>

namespace sdbox::firmware {

/// The state of a PIN (or PUK) as the card reports it.
struct PinStatus {
  bool verified = false;
  bool blocked = false;
  int tries_left = -1;  ///< -1 when the card did not say
};

/// The outcome of presenting a PIN or PUK: expected outcomes are values, not errors.
struct PinCheck {
  enum class Outcome { accepted, wrong, blocked };
  Outcome outcome = Outcome::wrong;
  int tries_left = -1;
};

/// Host side of the PIV card application (NIST SP 800-73-4) over any APDU transport. Used by
/// the box (login) and by the enrolment tools (personalisation). Card refusals that are not
/// PIN outcomes come back as errors of category `card` with the status word as the code.
class PivClient {
 public:
  explicit PivClient(apdu::Transport& transport) : transport_(transport) {}

  Status select();
  /// The content of a data object (inside its 53 wrapper).
  Result<Bytes> read_object(std::uint32_t tag);
  /// The DER certificate of an asymmetric key slot (9A by default).
  Result<Bytes> read_certificate(std::uint8_t slot);
  Result<PinStatus> pin_status();
  /// VERIFY with the PIV application PIN. A PIN that is not 6-8 digits is a usage error and is
  /// never sent to the card (so it costs no try).
  Result<PinCheck> verify_pin(std::string_view pin);
  /// Forgets the PIN verification (VERIFY with P1 = FF).
  Status reset_pin_status();
  Result<PinCheck> change_pin(std::string_view current, std::string_view replacement);
  Result<PinCheck> change_puk(std::string_view current, std::string_view replacement);
  Result<PinCheck> unblock_pin(std::string_view puk, std::string_view new_pin);
  /// What the card expects of finger templates, one entry per enrolled finger (BIT group 7F61).
  Result<std::vector<finger::CardTemplateRules>> finger_references();
  /// On-card comparison: VERIFY of reference 96 or 97 with a compact-card template.
  Result<PinCheck> verify_finger(std::uint8_t reference, const std::vector<finger::CompactMinutia>& probe);
  Result<PinStatus> finger_status(std::uint8_t reference);

  /// ECDSA with the key in `slot` over `digest` (32 bytes for P-256); DER signature.
  Result<Bytes> sign_digest(std::uint8_t slot, std::uint8_t algorithm, ByteView digest);

  // Card management (enrolment station): all need the management key first.
  Status authenticate_management(std::uint8_t algorithm, ByteView key);
  /// Generates a key pair on the card; returns the public point (04 || X || Y).
  Result<Bytes> generate_key(std::uint8_t slot, std::uint8_t algorithm);
  Status put_object(std::uint32_t tag, ByteView content);
  Status put_certificate(std::uint8_t slot, ByteView certificate_der);
  Status set_management_key(std::uint8_t algorithm, ByteView key);
  /// Writes a finger reference (CHANGE REFERENCE DATA, P1 = 01) for reference 96 or 97.
  Status write_finger_reference(std::uint8_t reference, std::uint8_t finger_position,
                                const std::vector<finger::CompactMinutia>& minutiae);
  Result<Bytes> serial();

 private:
  Result<apdu::Response> send(const apdu::Command& command);
  Status expect_ok(const apdu::Command& command, std::string_view what);
  Result<PinStatus> reference_status(std::uint8_t reference, std::string_view what);
  Result<PinCheck> reference_data_command(std::uint8_t ins, std::uint8_t key, std::string_view first,
                                          std::string_view second, std::size_t first_min);

  apdu::Transport& transport_;
};

/// Rejects anything but 6 to 8 ASCII digits.
Status check_pin_format(std::string_view pin, std::size_t min_digits = 6);

}  // namespace sdbox::firmware
