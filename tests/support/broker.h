// Helpers for tests that run a Broker, a Producer and Consumers.
#ifndef BROOK_TESTS_SUPPORT_BROKER_H_
#define BROOK_TESTS_SUPPORT_BROKER_H_

#include <memory>
#include <string>

#include "brook/broker.h"
#include "brook/consumer.h"
#include "brook/producer.h"
#include "support/catch.h"

namespace brook::testing {

// Opens a Broker with no background threads (tests drive Tick()) unless `options` say otherwise.
inline std::unique_ptr<Broker> OpenBroker(const std::string& dir, BrokerOptions options = {
                                                                      .background_threads = 0}) {
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(dir, std::move(options));
  REQUIRE(broker.ok());
  return std::move(*broker);
}

inline std::unique_ptr<Producer> MakeProducer(Broker& broker, ProducerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(broker, std::move(options));
  REQUIRE(producer.ok());
  return std::move(*producer);
}

inline std::unique_ptr<Consumer> MakeConsumer(Broker& broker, ConsumerOptions options) {
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(broker, std::move(options));
  REQUIRE(consumer.ok());
  return std::move(*consumer);
}

// Sends and waits for the acknowledgement.
inline RecordMetadata SendSync(Producer& producer, const ProducerRecord& record) {
  absl::StatusOr<RecordMetadata> r = producer.Send(record).get();
  INFO(r.status());
  REQUIRE(r.ok());
  return *r;
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_BROKER_H_
