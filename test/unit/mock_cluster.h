// librdkafka's in-process mock cluster for the unit tests (see kafka_sink_test.cpp).
#pragma once

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdexcept>
#include <string>

namespace bw {

// Owns a mock cluster; librdkafka needs a handle of its own to run one.
class MockCluster {
public:
    explicit MockCluster(int brokers) {
        char errstr[512];
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
        host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
        if (host_ == nullptr) throw std::runtime_error(errstr);
        cluster_ = rd_kafka_mock_cluster_new(host_, brokers);
        if (cluster_ == nullptr) throw std::runtime_error("cannot start mock cluster");
    }
    ~MockCluster() {
        rd_kafka_mock_cluster_destroy(cluster_);
        rd_kafka_destroy(host_);
    }
    rd_kafka_mock_cluster_t* get() { return cluster_; }
    std::string bootstraps() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }
    void create_topic(const std::string& topic, int partitions) {
        ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }

private:
    rd_kafka_t* host_ = nullptr;
    rd_kafka_mock_cluster_t* cluster_ = nullptr;
};

}  // namespace bw
