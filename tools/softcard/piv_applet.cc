#include "piv_applet.hpp"

#include "sdbox/common/crypto.hpp"
#include "sdbox/common/finger_match.hpp"
#include "sdbox/common/finger_template.hpp"
#include "sdbox/common/piv.hpp"
#include "sdbox/common/tlv.hpp"

#include <algorithm>

namespace sdbox::softcard {

namespace sw = apdu::sw;

namespace {

constexpr std::uint16_t kMemoryFailure = 0x6581;
constexpr std::size_t kMaxObjectSize = 8192;
constexpr std::size_t kMaxChainedData = 16384;
constexpr std::size_t kMaxTotalObjects = 65536;
// What the card asks of comparison templates (published in its BIT group template).
constexpr std::uint8_t kMinMinutiae = 12;
constexpr std::uint8_t kMaxMinutiae = 60;
constexpr std::uint8_t kMinutiaOrder = finger::order::kAscending | finger::order::kXY;

bool is_finger_reference(std::uint8_t key) { return key == piv::key::kFirstFinger || key == piv::key::kSecondFinger; }

constexpr std::uint8_t kSoftcardVersion[] = {0x00, 0x01, 0x00};  // GET VERSION: the softcard's own version

bool is_asymmetric_slot(std::uint8_t key) {
  return key == piv::key::kAuthentication || key == piv::key::kSignature || key == piv::key::kKeyManagement ||
         key == piv::key::kCardAuthentication;
}

bool is_writable_object(std::uint32_t tag) {
  switch (tag) {
    case piv::object::kCardCapabilityContainer:
    case piv::object::kChuid:
    case piv::object::kCertAuthentication:
    case piv::object::kCertSignature:
    case piv::object::kCertKeyManagement:
    case piv::object::kCertCardAuthentication:
    case piv::object::kPrintedInformation:
    case piv::object::kSecurityObject:
    case piv::object::kKeyHistory:
    case piv::object::kFacialImage:
      return true;
    default:
      return false;
  }
}

bool is_certificate_object(std::uint32_t tag) {
  return tag == piv::object::kCertAuthentication || tag == piv::object::kCertSignature ||
         tag == piv::object::kCertKeyManagement || tag == piv::object::kCertCardAuthentication;
}

std::uint16_t tries_status(int tries_left) {
  if (tries_left <= 0) return sw::kAuthenticationBlocked;
  return static_cast<std::uint16_t>(0x63C0 | std::min(tries_left, 15));
}

/// The object tag named by a 5C tag list of one tag of 1 to 3 bytes.
std::optional<std::uint32_t> single_tag(ByteView tag_list) {
  if (tag_list.empty() || tag_list.size() > 3) return std::nullopt;
  std::uint32_t tag = 0;
  for (std::uint8_t byte : tag_list) tag = (tag << 8) | byte;
  return tag;
}

/// A certificate object must be 70 {DER certificate} 71 {info}, optionally FE, and the
/// certificate must be one OpenSSL can read whole (uncompressed).
bool valid_certificate_object(ByteView content) {
  auto objects = tlv::parse_all(content);
  if (!objects) return false;
  bool has_certificate = false;
  for (const auto& object : *objects) {
    if (object.tag == piv::tag::kCertificate) {
      if (has_certificate || !crypto::certificate_from_der(object.value)) return false;
      has_certificate = true;
    } else if (object.tag == piv::tag::kCertInfo) {
      if (object.value.size() > 1 || (object.value.size() == 1 && object.value[0] != 0x00)) return false;
    } else if (object.tag != piv::tag::kErrorDetection && object.tag != 0x72) {
      return false;
    }
  }
  return has_certificate;
}

}  // namespace

Bytes softcard_atr() {
  // TS, T0 (TD1 present, 10 historical bytes), TD1 (TD2 present, T=0), TD2 (T=1), history, TCK.
  Bytes atr{0x3B, 0x8A, 0x80, 0x01};
  append(atr, bytes_of("SD-Box PIV"));
  std::uint8_t check = 0;
  for (std::size_t i = 1; i < atr.size(); ++i) check ^= atr[i];
  atr.push_back(check);
  return atr;
}

PivApplet::PivApplet(CardState state, Persist persist) : state_(std::move(state)), persist_(std::move(persist)) {}

void PivApplet::reset() {
  pin_verified_ = false;
  finger_verified_ = false;
  pin_always_fresh_ = false;
  management_authenticated_ = false;
  management_step_ = ManagementStep::none;
  secure_wipe(management_nonce_);
  chain_.reset();
  pending_response_.clear();
  pending_sw_ = sw::kOk;
}

Bytes PivApplet::process(ByteView raw) {
  auto parsed = apdu::Command::parse(raw);
  if (!parsed) {
    chain_.reset();
    pending_response_.clear();
    return apdu::Response{{}, sw::kWrongLength}.encode();
  }
  apdu::Command command = std::move(*parsed);
  const std::size_t ne = command.ne.value_or(apdu::kShortMaxNe);

  if (command.ins == piv::ins::kGetResponse && (command.cla & ~apdu::kChainingBit) == 0x00) {
    if (pending_response_.empty()) return apdu::Response{{}, sw::kConditionsNotSatisfied}.encode();
    if (command.p1 != 0 || command.p2 != 0) return apdu::Response{{}, sw::kIncorrectP1P2}.encode();
    Bytes rest = std::move(pending_response_);
    pending_response_.clear();
    return respond(Reply{pending_sw_, std::move(rest)}, ne);
  }
  pending_response_.clear();

  if ((command.cla & ~apdu::kChainingBit) != 0x00) {
    chain_.reset();
    return apdu::Response{{}, sw::kClaNotSupported}.encode();
  }
  if (chain_) {
    if (chain_->ins != command.ins || chain_->p1 != command.p1 || chain_->p2 != command.p2) {
      chain_.reset();
      return apdu::Response{{}, sw::kLastCommandOfChainExpected}.encode();
    }
    if (chain_->data.size() + command.data.size() > kMaxChainedData) {
      chain_.reset();
      return apdu::Response{{}, sw::kWrongLength}.encode();
    }
    Bytes joined = std::move(chain_->data);
    append(joined, command.data);
    command.data = std::move(joined);
    chain_.reset();
  }
  if ((command.cla & apdu::kChainingBit) != 0) {
    command.cla = 0x00;
    chain_ = std::move(command);
    return apdu::Response{{}, sw::kOk}.encode();
  }
  return respond(dispatch(command), ne);
}

Bytes PivApplet::respond(Reply reply, std::size_t ne) {
  if (reply.data.size() <= ne) return apdu::Response{std::move(reply.data), reply.sw}.encode();
  // More than the terminal asked for: hand out Ne bytes and announce the rest with 61xx.
  Bytes first(reply.data.begin(), reply.data.begin() + static_cast<std::ptrdiff_t>(ne));
  pending_response_.assign(reply.data.begin() + static_cast<std::ptrdiff_t>(ne), reply.data.end());
  pending_sw_ = reply.sw;
  const std::size_t remaining = pending_response_.size();
  return apdu::Response{std::move(first), static_cast<std::uint16_t>(0x6100 | (remaining > 255 ? 0 : remaining))}
      .encode();
}

PivApplet::Reply PivApplet::dispatch(const apdu::Command& command) {
  switch (command.ins) {
    case piv::ins::kSelect: return select(command);
    case piv::ins::kGetData: return get_data(command);
    case piv::ins::kVerify: return verify(command);
    case piv::ins::kChangeReferenceData: return change_reference(command);
    case piv::ins::kResetRetryCounter: return reset_retry_counter(command);
    case piv::ins::kGeneralAuthenticate: return general_authenticate(command);
    case piv::ins::kGenerateKeyPair: return generate_key_pair(command);
    case piv::ins::kPutData: return put_data(command);
    case piv::ins::kSetManagementKey: return set_management_key(command);
    case piv::ins::kGetVersion:
      if (!command.data.empty()) return {sw::kWrongLength};
      return {sw::kOk, Bytes(std::begin(kSoftcardVersion), std::end(kSoftcardVersion))};
    case piv::ins::kGetSerial:
      if (!command.data.empty()) return {sw::kWrongLength};
      return {sw::kOk, state_.serial};
    default:
      return {sw::kInsNotSupported};
  }
}

Bytes PivApplet::application_property_template() const {
  Bytes algorithms;
  for (std::uint8_t algorithm : {piv::alg::kTripleDes, piv::alg::kAes128, piv::alg::kAes192, piv::alg::kAes256,
                                 piv::alg::kEccP256}) {
    tlv::append_object(algorithms, piv::tag::kAlgorithmId, Bytes{algorithm});
  }
  tlv::append_object(algorithms, piv::tag::kObjectIdentifier, Bytes{0x00});
  Bytes authority;
  tlv::append_object(authority, piv::tag::kAid, piv::kRid);
  Bytes inner;
  tlv::append_object(inner, piv::tag::kAid, ByteView(piv::kAid).subspan(5));
  tlv::append_object(inner, piv::tag::kAuthorityReference, authority);
  tlv::append_object(inner, piv::tag::kApplicationLabel, bytes_of("SD-Box PIV softcard"));
  tlv::append_object(inner, piv::tag::kAlgorithms, algorithms);
  return tlv::encode(piv::tag::kApplicationPropertyTemplate, inner);
}

Bytes PivApplet::bit_group() const {
  std::vector<finger::CardTemplateRules> references;
  for (const auto& [reference, finger] : state_.fingers) {
    references.push_back({reference, finger.position, kMinMinutiae, kMaxMinutiae, kMinutiaOrder});
  }
  return finger::encode_bit_group(references);
}

Bytes PivApplet::discovery_object() const {
  Bytes inner;
  tlv::append_object(inner, piv::tag::kAid, piv::kAid);
  // PIN usage policy: the application PIN, no global PIN; on-card comparison once a finger is
  // enrolled (then the authentication key needs both, see sign()).
  const std::uint8_t policy =
      piv::pin_policy::kApplicationPin | (state_.fingers.empty() ? 0 : piv::pin_policy::kOnCardComparison);
  tlv::append_object(inner, piv::tag::kPinUsagePolicy, Bytes{policy, 0x00});
  return tlv::encode(piv::object::kDiscovery, inner);
}

PivApplet::Reply PivApplet::select(const apdu::Command& command) {
  if (command.p1 != 0x04 || (command.p2 != 0x00 && command.p2 != 0x0C)) return {sw::kIncorrectP1P2};
  const ByteView aid(command.data);
  if (aid.size() < piv::kRid.size() || aid.size() > piv::kAid.size() ||
      !std::equal(aid.begin(), aid.end(), piv::kAid.begin())) {
    return {sw::kFileNotFound};
  }
  // Security status lasts from power-on: clients re-select the application between operations.
  chain_.reset();
  if (command.p2 == 0x0C) return {};
  return {sw::kOk, application_property_template()};
}

PivApplet::Reply PivApplet::get_data(const apdu::Command& command) {
  if (command.p1 != 0x3F || command.p2 != 0xFF) return {sw::kIncorrectP1P2};
  auto tag_list = tlv::expect_single(command.data, piv::tag::kTagList);
  if (!tag_list) return {sw::kWrongData};
  const auto tag = single_tag(*tag_list);
  if (!tag) return {sw::kWrongData};
  if (*tag == piv::object::kDiscovery) return {sw::kOk, discovery_object()};
  if (*tag == piv::object::kBitGroupTemplate) return {sw::kOk, bit_group()};
  const auto found = state_.objects.find(*tag);
  if (found == state_.objects.end()) return {sw::kFileNotFound};
  return {sw::kOk, tlv::encode(piv::tag::kData, found->second)};
}

PivApplet::Reply PivApplet::check_secret(Secret CardState::*which, ByteView candidate) {
  CardState next = state_;
  Secret& secret = next.*which;
  if (secret.blocked()) return {sw::kAuthenticationBlocked};
  secret.tries_left -= 1;
  if (auto saved = persist_(next); !saved) return {kMemoryFailure};
  state_ = next;
  if (!(state_.*which).matches(candidate)) return {tries_status((state_.*which).tries_left)};
  (next.*which).tries_left = (next.*which).max_tries;
  return commit(std::move(next));
}

PivApplet::Reply PivApplet::commit(CardState next, Reply on_success) {
  if (auto saved = persist_(next); !saved) return {kMemoryFailure};
  state_ = std::move(next);
  return on_success;
}

PivApplet::Reply PivApplet::verify(const apdu::Command& command) {
  if (command.p1 == 0xFF) {  // reset the security status of the key reference
    if (!command.data.empty()) return {sw::kWrongLength};
    if (is_finger_reference(command.p2)) {
      finger_verified_ = false;
      return {};
    }
    if (command.p2 != piv::key::kPin) return {sw::kReferenceNotFound};
    pin_verified_ = false;
    pin_always_fresh_ = false;
    return {};
  }
  if (command.p1 != 0x00) return {sw::kIncorrectP1P2};
  if (is_finger_reference(command.p2)) return verify_finger(command);
  if (command.p2 != piv::key::kPin) return {sw::kReferenceNotFound};
  if (command.data.empty()) {  // status query
    if (state_.pin.blocked()) return {sw::kAuthenticationBlocked};
    if (pin_verified_) return {};
    return {tries_status(state_.pin.tries_left)};
  }
  if (command.data.size() != piv::kPinBlockSize) return {sw::kWrongLength};
  if (state_.pin.blocked()) return {sw::kAuthenticationBlocked};
  if (!is_valid_pin_block(command.data, piv::kPinMinLength)) return {sw::kWrongData};
  Reply reply = check_secret(&CardState::pin, command.data);
  pin_verified_ = reply.sw == sw::kOk;
  pin_always_fresh_ = pin_verified_;
  return reply;
}

PivApplet::Reply PivApplet::verify_finger(const apdu::Command& command) {
  const auto reference = state_.fingers.find(command.p2);
  if (reference == state_.fingers.end()) return {sw::kReferenceNotFound};
  if (command.data.empty()) {  // status query
    if (state_.finger_tries_left <= 0) return {sw::kAuthenticationBlocked};
    if (finger_verified_) return {};
    return {tries_status(state_.finger_tries_left)};
  }
  if (state_.finger_tries_left <= 0) return {sw::kAuthenticationBlocked};
  // Malformed probes cost no try: only a comparison does.
  auto biometric = tlv::expect_single(command.data, piv::tag::kBiometricData);
  if (!biometric) return {sw::kWrongData};
  auto items = tlv::parse_all(*biometric);
  if (!items || items->size() != 1 || (*items)[0].tag != piv::tag::kFingerMinutiae) return {sw::kWrongData};
  auto probe = finger::decode_compact((*items)[0].value);
  if (!probe || probe->size() < kMinMinutiae || probe->size() > kMaxMinutiae) return {sw::kWrongData};
  auto stored = finger::decode_compact(reference->second.minutiae);
  if (!stored) return {sw::kUnknown};

  // The spent try is saved before comparing, as for the PIN.
  CardState next = state_;
  next.finger_tries_left -= 1;
  if (auto saved = persist_(next); !saved) return {kMemoryFailure};
  state_ = next;
  if (!finger::compare(*stored, *probe).match) {
    finger_verified_ = false;
    return {tries_status(state_.finger_tries_left)};
  }
  next.finger_tries_left = CardState::kFingerTries;
  Reply reply = commit(std::move(next));
  finger_verified_ = reply.sw == sw::kOk;
  return reply;
}

PivApplet::Reply PivApplet::write_finger_reference(const apdu::Command& command) {
  auto items = tlv::parse_all(command.data);
  if (!items || items->size() != 2 || (*items)[0].tag != piv::tag::kFingerPosition || (*items)[0].value.size() != 1 ||
      (*items)[1].tag != piv::tag::kBiometricData) {
    return {sw::kWrongData};
  }
  auto inner = tlv::parse_all((*items)[1].value);
  if (!inner || inner->size() != 1 || (*inner)[0].tag != piv::tag::kFingerMinutiae) return {sw::kWrongData};
  auto minutiae = finger::decode_compact((*inner)[0].value);
  if (!minutiae || minutiae->size() < kMinMinutiae || minutiae->size() > kMaxMinutiae) return {sw::kWrongData};
  if (!management_authenticated_) return {sw::kSecurityStatusNotSatisfied};
  const std::uint8_t position = (*items)[0].value[0];
  for (const auto& [other, finger] : state_.fingers) {
    // The same finger twice would make the second reference pointless.
    if (other != command.p2 && finger.position == position) return {sw::kConditionsNotSatisfied};
  }
  CardState next = state_;
  next.fingers[command.p2] = FingerReference{position, finger::encode_compact(*minutiae)};
  next.finger_tries_left = CardState::kFingerTries;
  finger_verified_ = false;
  return commit(std::move(next));
}

PivApplet::Reply PivApplet::change_reference(const apdu::Command& command) {
  if (command.p1 == 0x01 && is_finger_reference(command.p2)) return write_finger_reference(command);
  if (command.p1 != 0x00) return {sw::kIncorrectP1P2};
  if (command.p2 != piv::key::kPin && command.p2 != piv::key::kPuk) return {sw::kReferenceNotFound};
  if (command.data.size() != 2 * piv::kPinBlockSize) return {sw::kWrongLength};
  const ByteView current = ByteView(command.data).first(piv::kPinBlockSize);
  const ByteView replacement = ByteView(command.data).subspan(piv::kPinBlockSize);
  const std::size_t min_digits = command.p2 == piv::key::kPin ? piv::kPinMinLength : piv::kPukMinLength;
  Secret CardState::*which = command.p2 == piv::key::kPin ? &CardState::pin : &CardState::puk;
  if ((state_.*which).blocked()) return {sw::kAuthenticationBlocked};
  if (!is_valid_pin_block(current, min_digits) || !is_valid_pin_block(replacement, min_digits)) {
    return {sw::kWrongData};
  }
  Reply checked = check_secret(which, current);
  if (checked.sw != sw::kOk) return checked;
  CardState next = state_;
  next.*which = Secret::from_block(replacement, (state_.*which).max_tries);
  Reply reply = commit(std::move(next));
  if (reply.sw == sw::kOk && command.p2 == piv::key::kPin) pin_verified_ = true;
  return reply;
}

PivApplet::Reply PivApplet::reset_retry_counter(const apdu::Command& command) {
  if (command.p1 != 0x00) return {sw::kIncorrectP1P2};
  if (command.p2 != piv::key::kPin) return {sw::kReferenceNotFound};
  if (command.data.size() != 2 * piv::kPinBlockSize) return {sw::kWrongLength};
  const ByteView puk = ByteView(command.data).first(piv::kPinBlockSize);
  const ByteView new_pin = ByteView(command.data).subspan(piv::kPinBlockSize);
  if (state_.puk.blocked()) return {sw::kAuthenticationBlocked};
  if (!is_valid_pin_block(puk, piv::kPukMinLength) || !is_valid_pin_block(new_pin, piv::kPinMinLength)) {
    return {sw::kWrongData};
  }
  Reply checked = check_secret(&CardState::puk, puk);
  if (checked.sw != sw::kOk) return checked;
  CardState next = state_;
  next.pin = Secret::from_block(new_pin, state_.pin.max_tries);
  pin_verified_ = false;
  return commit(std::move(next));
}

PivApplet::Reply PivApplet::general_authenticate(const apdu::Command& command) {
  auto template_value = tlv::expect_single(command.data, piv::tag::kDynamicAuthentication);
  if (!template_value) return {sw::kWrongData};
  if (command.p2 == piv::key::kCardManagement) return authenticate_management(command, *template_value);
  if (is_asymmetric_slot(command.p2)) return sign(command, *template_value);
  return {sw::kIncorrectP1P2};
}

PivApplet::Reply PivApplet::authenticate_management(const apdu::Command& command, ByteView template_value) {
  if (command.p1 != state_.management_algorithm) return {sw::kIncorrectP1P2};
  auto items = tlv::parse_all(template_value);
  if (!items || items->empty()) return {sw::kWrongData};
  const std::size_t block = *piv::block_size_of(state_.management_algorithm);
  std::optional<ByteView> witness, challenge, response;
  for (const auto& item : *items) {
    if (item.tag == piv::tag::kWitness && !witness) witness = item.value;
    else if (item.tag == piv::tag::kChallenge && !challenge) challenge = item.value;
    else if (item.tag == piv::tag::kResponse && !response) response = item.value;
    else return {sw::kWrongData};
  }
  const ManagementStep step = management_step_;
  Bytes nonce = std::move(management_nonce_);
  management_step_ = ManagementStep::none;
  management_nonce_.clear();

  // Step 1 of mutual authentication: the terminal asks for a witness.
  if (witness && witness->empty() && !challenge && !response) {
    management_authenticated_ = false;
    management_nonce_ = crypto::random_bytes(block);
    auto encrypted = crypto::block_encrypt(state_.management_algorithm, state_.management_key, management_nonce_);
    if (!encrypted) return {sw::kUnknown};
    management_step_ = ManagementStep::witness_issued;
    return {sw::kOk, tlv::encode(piv::tag::kDynamicAuthentication, tlv::encode(piv::tag::kWitness, *encrypted))};
  }
  // Step 2: the decrypted witness proves the terminal has the key; answer its challenge.
  if (witness && challenge && !response) {
    if (step != ManagementStep::witness_issued || witness->size() != block || challenge->size() != block) {
      return {sw::kWrongData};
    }
    if (!equal_constant_time(*witness, nonce)) return {sw::kSecurityStatusNotSatisfied};
    auto encrypted = crypto::block_encrypt(state_.management_algorithm, state_.management_key, *challenge);
    if (!encrypted) return {sw::kUnknown};
    management_authenticated_ = true;
    return {sw::kOk, tlv::encode(piv::tag::kDynamicAuthentication, tlv::encode(piv::tag::kResponse, *encrypted))};
  }
  // One-way authentication: the card issues a challenge, the terminal returns it encrypted.
  if (challenge && challenge->empty() && !witness && !response) {
    management_authenticated_ = false;
    management_nonce_ = crypto::random_bytes(block);
    management_step_ = ManagementStep::challenge_issued;
    return {sw::kOk,
            tlv::encode(piv::tag::kDynamicAuthentication, tlv::encode(piv::tag::kChallenge, management_nonce_))};
  }
  if (response && !witness && !challenge) {
    if (step != ManagementStep::challenge_issued || response->size() != block) return {sw::kWrongData};
    auto expected = crypto::block_encrypt(state_.management_algorithm, state_.management_key, nonce);
    if (!expected) return {sw::kUnknown};
    if (!equal_constant_time(*response, *expected)) return {sw::kSecurityStatusNotSatisfied};
    management_authenticated_ = true;
    return {};
  }
  return {sw::kWrongData};
}

PivApplet::Reply PivApplet::sign(const apdu::Command& command, ByteView template_value) {
  auto items = tlv::parse_all(template_value);
  if (!items) return {sw::kWrongData};
  std::optional<ByteView> challenge;
  bool response_requested = false;
  for (const auto& item : *items) {
    if (item.tag == piv::tag::kResponse && item.value.empty() && !response_requested) response_requested = true;
    else if (item.tag == piv::tag::kChallenge && !challenge) challenge = item.value;
    else return {sw::kWrongData};
  }
  if (!response_requested || !challenge) return {sw::kWrongData};
  const auto slot = state_.keys.find(command.p2);
  if (slot == state_.keys.end()) return {sw::kReferenceNotFound};
  if (command.p1 != slot->second.algorithm) return {sw::kIncorrectP1P2};
  // P-256: the challenge is the digest, of the key's size.
  if (challenge->size() != 32) return {sw::kWrongData};

  if (command.p2 == piv::key::kSignature) {
    if (!pin_always_fresh_) return {sw::kSecurityStatusNotSatisfied};
  } else if (command.p2 != piv::key::kCardAuthentication && !pin_verified_) {
    return {sw::kSecurityStatusNotSatisfied};
  }
  // A card with a finger enrolled wants the holder's finger as well as the PIN for the
  // authentication key: three factors for the login signature.
  if (command.p2 == piv::key::kAuthentication && !state_.fingers.empty() && !finger_verified_) {
    return {sw::kSecurityStatusNotSatisfied};
  }
  auto cached = decoded_keys_.find(command.p2);
  if (cached == decoded_keys_.end()) {
    auto key = crypto::private_key_from_der(slot->second.private_key_der);
    if (!key) return {sw::kUnknown};
    cached = decoded_keys_.emplace(command.p2, std::move(*key)).first;
  }
  auto signature = crypto::ecdsa_sign_digest(*cached->second, *challenge);
  if (!signature) return {sw::kUnknown};
  if (command.p2 == piv::key::kSignature) pin_always_fresh_ = false;
  return {sw::kOk, tlv::encode(piv::tag::kDynamicAuthentication, tlv::encode(piv::tag::kResponse, *signature))};
}

PivApplet::Reply PivApplet::generate_key_pair(const apdu::Command& command) {
  if (command.p1 != 0x00) return {sw::kIncorrectP1P2};
  if (!is_asymmetric_slot(command.p2)) return {sw::kIncorrectP1P2};
  auto control = tlv::expect_single(command.data, piv::tag::kControlReference);
  if (!control) return {sw::kWrongData};
  auto items = tlv::parse_all(*control);
  if (!items) return {sw::kWrongData};
  std::optional<std::uint8_t> algorithm;
  for (const auto& item : *items) {
    if (item.tag == piv::tag::kAlgorithmId && item.value.size() == 1 && !algorithm) algorithm = item.value[0];
    else if ((item.tag == 0xAA || item.tag == 0xAB) && item.value.size() == 1) continue;  // PIN/touch policy
    else return {sw::kWrongData};
  }
  if (!algorithm) return {sw::kWrongData};
  if (!management_authenticated_) return {sw::kSecurityStatusNotSatisfied};
  if (*algorithm != piv::alg::kEccP256) return {sw::kWrongData};
  auto key = crypto::generate_ec_p256();
  if (!key) return {sw::kUnknown};
  auto der = crypto::private_key_to_der(**key);
  auto point = crypto::ec_public_point(**key);
  if (!der || !point) return {sw::kUnknown};
  CardState next = state_;
  next.keys[command.p2] = KeySlot{*algorithm, std::move(*der)};
  decoded_keys_.erase(command.p2);
  return commit(std::move(next),
                {sw::kOk, tlv::encode(piv::tag::kPublicKeyTemplate, tlv::encode(piv::tag::kEcPoint, *point))});
}

PivApplet::Reply PivApplet::put_data(const apdu::Command& command) {
  if (command.p1 != 0x3F || command.p2 != 0xFF) return {sw::kIncorrectP1P2};
  auto items = tlv::parse_all(command.data);
  if (!items || items->size() != 2 || (*items)[0].tag != piv::tag::kTagList || (*items)[1].tag != piv::tag::kData) {
    return {sw::kWrongData};
  }
  const auto tag = single_tag((*items)[0].value);
  if (!tag || !is_writable_object(*tag)) return {sw::kWrongData};
  if (!management_authenticated_) return {sw::kSecurityStatusNotSatisfied};
  const ByteView content = (*items)[1].value;
  if (content.size() > kMaxObjectSize) return {sw::kNotEnoughMemory};
  if (!content.empty()) {
    if (is_certificate_object(*tag) ? !valid_certificate_object(content) : !tlv::parse_all(content).ok()) {
      return {sw::kWrongData};
    }
  }
  CardState next = state_;
  if (content.empty()) {
    next.objects.erase(*tag);
  } else {
    next.objects[*tag] = Bytes(content.begin(), content.end());
  }
  std::size_t total = 0;
  for (const auto& [object_tag, value] : next.objects) total += value.size();
  if (total > kMaxTotalObjects) return {sw::kNotEnoughMemory};
  return commit(std::move(next));
}

PivApplet::Reply PivApplet::set_management_key(const apdu::Command& command) {
  if (command.p1 != 0xFF || (command.p2 != 0xFF && command.p2 != 0xFE)) return {sw::kIncorrectP1P2};
  // algorithm | 9B | key length | key
  if (command.data.size() < 3 || command.data[1] != piv::key::kCardManagement) return {sw::kWrongData};
  const std::uint8_t algorithm = command.data[0];
  const auto length = piv::key_length_of(algorithm);
  if (!length || command.data[2] != *length || command.data.size() != 3 + *length) return {sw::kWrongData};
  if (!management_authenticated_) return {sw::kSecurityStatusNotSatisfied};
  CardState next = state_;
  next.management_algorithm = algorithm;
  next.management_key.assign(command.data.begin() + 3, command.data.end());
  return commit(std::move(next));
}

}  // namespace sdbox::softcard
