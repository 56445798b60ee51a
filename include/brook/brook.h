// brook/brook.h — everything public in brook, for those who prefer one include.
#ifndef BROOK_BROOK_H_
#define BROOK_BROOK_H_

#include "brook/assignor.h"
#include "brook/broker.h"
#include "brook/clock.h"
#include "brook/compression.h"
#include "brook/consumer.h"
#include "brook/consumer_group.h"
#include "brook/crc32c.h"
#include "brook/file_system.h"
#include "brook/log.h"
#include "brook/log_cleaner.h"
#include "brook/log_options.h"
#include "brook/partition.h"
#include "brook/partitioner.h"
#include "brook/producer.h"
#include "brook/record_batch.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "brook/topic.h"
#include "brook/topic_config.h"
#include "brook/topic_partition.h"
#include "brook/version.h"

#endif  // BROOK_BROOK_H_
