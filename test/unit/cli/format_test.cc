// Golden output of every devicectl format, AGE rules, and input parsing.
#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/format.h"
#include "cli/sort_by.h"
#include "cli/yaml.h"
#include "golden.h"
#include "sample_gpus.h"

namespace deviceapi::cli {
namespace {

using google::protobuf::util::MessageDifferencer;

TEST(HumanAge, FollowsKubectl) {
  using std::chrono::seconds;
  EXPECT_EQ(HumanAge(seconds(-5)), "<invalid>");
  EXPECT_EQ(HumanAge(seconds(-1)), "0s");
  EXPECT_EQ(HumanAge(seconds(0)), "0s");
  EXPECT_EQ(HumanAge(seconds(119)), "119s");
  EXPECT_EQ(HumanAge(seconds(120)), "2m");
  EXPECT_EQ(HumanAge(seconds(330)), "5m30s");
  EXPECT_EQ(HumanAge(seconds(600)), "10m");
  EXPECT_EQ(HumanAge(seconds(3 * 3600 + 60)), "3h1m");
  EXPECT_EQ(HumanAge(seconds(8 * 3600)), "8h");
  EXPECT_EQ(HumanAge(seconds(3 * 86400 + 7200)), "3d2h");
  EXPECT_EQ(HumanAge(seconds(30 * 86400)), "30d");
  EXPECT_EQ(HumanAge(seconds(3LL * 365 * 86400 + 86400)), "3y1d");
  EXPECT_EQ(HumanAge(seconds(10LL * 365 * 86400)), "10y");
}

TEST(Golden, Table) {
  TableOptions o;
  o.now = GoldenNow();
  ExpectGolden("table.txt", FormatTable(SampleGpus(), o));
}

TEST(Golden, TableAllNamespacesWide) {
  TableOptions o;
  o.now = GoldenNow();
  o.wide = true;
  o.show_namespace = true;
  ExpectGolden("wide_all_namespaces.txt", FormatTable(SampleGpus(), o));
}

// -w --output-watch-events, -L and --show-labels together; --no-headers.
TEST(Golden, TableEventsAndLabelColumns) {
  TableOptions o;
  o.now = GoldenNow();
  o.event_column = true;
  o.show_labels = true;
  o.label_columns = {"nvidia.com/gpu.product", "rack"};
  ExpectGolden("table_events_labels.txt", FormatTable(SampleGpus(), o, true, "ADDED"));
  o.no_headers = true;
  std::string rows = FormatTable(SampleGpus(), o, true, "ADDED");
  EXPECT_EQ(rows.rfind("ADDED   gpu-0   GPU-", 0), 0u) << rows;
}

TEST(Table, ReadyColumnFallsBackToAnyReadyCondition) {
  TableOptions o;
  o.now = GoldenNow();
  Gpu g = SampleGpus()[0];
  g.mutable_status()->mutable_conditions(0)->set_type("NVMLReady");
  auto row = TableRow(g, o);
  EXPECT_EQ(row[2], "True");
  EXPECT_EQ(row[3], "DriverReady");
  g.mutable_status()->mutable_conditions(0)->set_type("Healthy");
  row = TableRow(g, o);
  EXPECT_EQ(row[2], "Unknown");
  EXPECT_EQ(row[3], "<none>");
}

// One provider's True never hides another's False: READY is the worst
// readiness condition, whatever order the conditions are stored in.
TEST(Table, ReadyColumnIsTheWorstReadinessConditionInAnyOrder) {
  TableOptions o;
  o.now = GoldenNow();
  auto condition = [](const std::string& type, const std::string& status, const std::string& reason) {
    Condition c;
    c.set_type(type);
    c.set_status(status);
    c.set_reason(reason);
    return c;
  };
  const std::vector<std::vector<Condition>> orders = {
      {condition("NVMLReady", "True", "Ok"), condition("example.com/DriverReady", "False", "DriverCrashed")},
      {condition("example.com/DriverReady", "False", "DriverCrashed"), condition("NVMLReady", "True", "Ok")},
      {condition("Ready", "True", "SetByHand"), condition("NVMLReady", "False", "DriverCrashed")},
      {condition("NVMLReady", "Unknown", "ProviderLeaseExpired"), condition("Ready", "False", "DriverCrashed"),
       condition("Healthy", "False", "NotReadiness")},
  };
  for (const auto& conditions : orders) {
    Gpu g = SampleGpus()[0];
    g.mutable_status()->clear_conditions();
    for (const auto& c : conditions) *g.mutable_status()->add_conditions() = c;
    auto row = TableRow(g, o);
    EXPECT_EQ(row[2], "False") << g.status().ShortDebugString();
    EXPECT_EQ(row[3], "DriverCrashed") << g.status().ShortDebugString();
  }
  Gpu g = SampleGpus()[0];
  g.mutable_status()->clear_conditions();
  *g.mutable_status()->add_conditions() = condition("NVMLReady", "True", "Ok");
  *g.mutable_status()->add_conditions() = condition("example.com/DriverReady", "Unknown", "NoHeartbeat");
  auto row = TableRow(g, o);
  EXPECT_EQ(row[2], "Unknown");
  EXPECT_EQ(row[3], "NoHeartbeat");
}

TEST(Golden, TableColorOnlyWhenAsked) {
  TableOptions o;
  o.now = GoldenNow();
  EXPECT_EQ(FormatTable(SampleGpus(), o).find('\033'), std::string::npos);
  o.color = true;
  std::string colored = FormatTable(SampleGpus(), o);
  EXPECT_NE(colored.find("\033[32mTrue\033[0m"), std::string::npos);
  EXPECT_NE(colored.find("\033[31mFalse\033[0m"), std::string::npos);
}

// Every control byte the terminal could act on: C0 but the line feed ending
// each line, DEL, and the C1 controls as UTF-8 (C2 80 - C2 9F).
std::string RawControls(const std::string& text) {
  std::string found;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char b = static_cast<unsigned char>(text[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7f ||
        (b == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9f))
      found += "@" + std::to_string(i) + " ";
  }
  return found;
}

TEST(Printable, EscapesControlsKeepsText) {
  EXPECT_EQ(Printable("plain text: a=b, <none>"), "plain text: a=b, <none>");
  EXPECT_EQ(Printable("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(Printable(std::string("\0\x1b[31m\x07\x7f", 8)), "\\x00\\x1b[31m\\x07\\x7f");
  // C1 controls: NEL, CSI, OSC, ST.
  EXPECT_EQ(Printable("\xc2\x85\xc2\x9b\xc2\x9d\xc2\x9c"), "\\u0085\\u009b\\u009d\\u009c");
  EXPECT_EQ(Printable("\xc2\x80\xc2\x9f"), "\\u0080\\u009f");
  // Text outside ASCII stays: U+00A0 (the first after C1), é, CJK, an emoji.
  EXPECT_EQ(Printable("\xc2\xa0\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"),
            "\xc2\xa0\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80");
  // Bytes that are not UTF-8, one escape each: a lone CSI byte, a stray
  // continuation, a truncated sequence, an overlong NUL, a surrogate.
  EXPECT_EQ(Printable("\x9b" "1m"), "\\x9b1m");
  EXPECT_EQ(Printable("\xff\x80"), "\\xff\\x80");
  EXPECT_EQ(Printable("\xe2\x82"), "\\xe2\\x82");
  EXPECT_EQ(Printable("\xc0\x80"), "\\xc0\\x80");
  EXPECT_EQ(Printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");
  EXPECT_EQ(Printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");
  EXPECT_EQ(RawControls(Printable(std::string("\x01\x1b\x7f\xc2\x9b\n", 6))), "");
}

// A GPU whose free-text fields try to forge a row ("gpu-evil ... True") and
// to drive the terminal (colour, window title, cursor moves, C1 CSI).
Gpu HostileGpu() {
  Gpu g = SampleGpus()[1];
  const std::string forged = "\ngpu-evil   GPU-00000009-1111-2222-3333-444444444444   True    ";
  g.mutable_status()->set_recommended_action("RESET_GPU" + forged + "DriverReady");
  auto* d = g.mutable_status()->mutable_device_info();
  d->set_product_name("H100\x1b]0;owned\x07\x1b[2J");
  d->set_pci_bus_id("00000000:11:00.0\rgpu-evil");
  d->set_driver_version("550\xc2\x9b" "31m\x7f");
  d->set_serial(std::string("1\0" "2", 3));
  (*g.mutable_metadata()->mutable_annotations())["example.com/note"] = "a\r\nb\x1b[A";
  (*g.mutable_metadata()->mutable_labels())["zone"] = "b\x1b[8m";
  g.mutable_status()->mutable_conditions(0)->set_message("bus" + forged + "\xc2\x85x");
  return g;
}

TEST(Golden, HostileValuesCannotForgeRowsOrReachTheTerminal) {
  const std::vector<Gpu> gpus = {SampleGpus()[0], HostileGpu()};
  TableOptions o;
  o.now = GoldenNow();
  o.label_columns = {"zone"};
  o.show_labels = true;
  std::string table = FormatTable(gpus, o);
  o.wide = true;
  std::string wide = FormatTable(gpus, o);
  o.color = true;  // the colours are devicectl's own escapes, around READY only
  std::string colored = FormatTable(gpus, o);
  std::string describe = FormatDescribe(HostileGpu(), GoldenNow());
  for (const std::string* out : {&table, &wide}) {
    EXPECT_EQ(std::count(out->begin(), out->end(), '\n'), 3) << *out;  // header + 2 rows
    EXPECT_EQ(out->find("\ngpu-evil"), std::string::npos) << *out;
    EXPECT_EQ(RawControls(*out), "") << *out;
  }
  EXPECT_EQ(std::count(colored.begin(), colored.end(), '\033'), 4) << colored;
  EXPECT_EQ(RawControls(describe), "") << describe;
  EXPECT_EQ(describe.find("\ngpu-evil"), std::string::npos) << describe;
  ExpectGolden("hostile_table.txt", table);
  ExpectGolden("hostile_wide.txt", wide);
  ExpectGolden("hostile_describe.txt", describe);
  // Watch rows: the widths of the first page come from the escaped cells too.
  std::vector<std::size_t> widths = ColumnWidths(gpus, o);
  std::vector<std::string> row = TableRow(HostileGpu(), o);
  for (std::size_t i = 0; i < row.size(); ++i) EXPECT_LE(row[i].size(), widths[i]) << i;
}

GpuList SampleList() {
  GpuList list;
  list.mutable_metadata()->set_resource_version("1002");
  for (const auto& g : SampleGpus()) *list.add_items() = g;
  return list;
}

TEST(Golden, Json) {
  ExpectGolden("gpu.json", FormatJson(GpuToJson(SampleGpus()[1])));
  ExpectGolden("list.json", FormatJson(GpuListToJson(SampleList())));
}

TEST(Golden, Yaml) {
  ExpectGolden("gpu.yaml", ToYaml(GpuToJson(SampleGpus()[1])));
  ExpectGolden("list.yaml", ToYaml(GpuListToJson(SampleList())));
}

TEST(Golden, Name) { ExpectGolden("name.txt", FormatName(SampleGpus()[0])); }

TEST(Golden, Describe) {
  ExpectGolden("describe.txt", FormatDescribe(SampleGpus()[1], GoldenNow()));
  Gpu bare;
  bare.mutable_metadata()->set_name("bare");
  ExpectGolden("describe_bare.txt", FormatDescribe(bare, GoldenNow()));
}

TEST(Golden, ClientGatheredList) {
  ExpectGolden("object_list.yaml", ToYaml(ObjectListToJson({SampleGpus()[2]})));
}

TEST(SortBy, OrdersByFieldNumbersByValue) {
  std::vector<Gpu> gpus = SampleGpus();
  gpus[0].mutable_status()->mutable_device_info()->set_memory_total_bytes(9000000000ull);
  ASSERT_TRUE(SortByField(".status.deviceInfo.memoryTotalBytes", &gpus).ok());
  EXPECT_EQ(gpus[0].metadata().name(), "gpu-0");  // 9e9 < 85899345920 as numbers, not as text
  ASSERT_TRUE(SortByField("{.status.conditions[0].status}", &gpus).ok());
  EXPECT_EQ(gpus[0].metadata().name(), "gpu-1");  // "False" < "True"
  ASSERT_TRUE(SortByField(".metadata.creationTimestamp", &gpus).ok());
  EXPECT_EQ(gpus[0].metadata().name(), "gpu-0");  // the oldest
  ASSERT_TRUE(SortByField(".status.recommendedAction", &gpus).ok());
  EXPECT_EQ(gpus[2].metadata().name(), "gpu-1");  // the only one that has it, last
  EXPECT_TRUE(SortByField(".metadata.nothing", &gpus).IsInvalid());
  for (const char* bad : {"", ".", "..a", ".a[", ".a[x]", "a b", "[1"})
    EXPECT_TRUE(SortByField(bad, &gpus).IsInvalid()) << bad;
}

// What get -o json|yaml prints, create -f reads back unchanged.
TEST(ParseGpu, RoundTripsOwnOutput) {
  for (const Gpu& g : SampleGpus()) {
    for (const std::string& text : {FormatJson(GpuToJson(g)), ToYaml(GpuToJson(g))}) {
      StatusOr<Gpu> back = ParseGpu(text);
      ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << text;
      EXPECT_TRUE(MessageDifferencer::Equals(*back, g)) << text;
    }
  }
}

TEST(ParseGpu, AcceptsHandWrittenYaml) {
  StatusOr<Gpu> g = ParseGpu(R"(# a GPU
apiVersion: nvsentinel.nvidia.com/v1alpha1
kind: Gpu
metadata:
  name: gpu-9
  labels:
    zone: "a"
    rack: '12'
spec:
  uuid: GPU-00000009-1111-2222-3333-444444444444   # from nvidia-smi -L
status:
  conditions:
  - type: Ready
    status: "True"
    reason: Manual
)");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->metadata().name(), "gpu-9");
  EXPECT_EQ(g->metadata().labels().at("rack"), "12");
  EXPECT_EQ(g->spec().uuid(), "GPU-00000009-1111-2222-3333-444444444444");
  ASSERT_EQ(g->status().conditions_size(), 1);
  EXPECT_EQ(g->status().conditions(0).reason(), "Manual");
}

// yaml-cpp reads all of YAML: anchors and aliases, block scalars, flow
// collections, standard tags.
TEST(ParseGpu, AcceptsFullYaml) {
  StatusOr<Gpu> g = ParseGpu(R"(metadata: {name: gpu-9, labels: {zone: &z a, backup-zone: *z}}
spec:
  uuid: !!str GPU-00000009-1111-2222-3333-444444444444
status:
  conditions:
  - type: Ready
    status: "True"
    message: |
      first line
      second line
    reason: >-
      Folded
)");
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(g->metadata().labels().at("backup-zone"), "a");
  EXPECT_EQ(g->status().conditions(0).message(), "first line\nsecond line\n");
  EXPECT_EQ(g->status().conditions(0).reason(), "Folded");
}

TEST(ParseYaml, RefusesWhatIsNotOneDocumentOfPlainData) {
  for (const char* bad : {"a: 1\na: 2\n", "a: 1\n---\nb: 2\n", "? [x]\n: 1\n", "a: !custom 1\n",
                          "a: !!bool maybe\n", "a: \"\xff\"\n", "a: [1\n", "a: *nothing\n"}) {
    StatusOr<Json> y = ParseYaml(bad);
    EXPECT_FALSE(y.ok()) << "accepted:\n" << bad;
    if (!y.ok()) {
      EXPECT_TRUE(y.status().IsInvalid());
      EXPECT_EQ(y.status().message().rfind("yaml", 0), 0u) << y.status().message();
    }
  }
  // Aliases that expand a small file into millions of values.
  std::string laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c)
    laughs += std::string(1, c) + ": &" + c + " [*" + char(c - 1) + ", *" + char(c - 1) + ", *" +
              char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) +
              ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" + char(c - 1) + ", *" +
              char(c - 1) + "]\n";
  StatusOr<Json> expanded = ParseYaml(laughs);
  ASSERT_FALSE(expanded.ok());
  EXPECT_NE(expanded.status().message().find("aliases"), std::string::npos);
}

TEST(ParseYaml, TypesScalarsAsBefore) {
  StatusOr<Json> y = ParseYaml("a: 12\nb: '12'\nc: true\nd: \"true\"\ne: ~\nf:\ng: yes\nh: !!str true\n");
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(*y, Json::parse(R"({"a":"12","b":"12","c":true,"d":"true","e":null,"f":null,
                                "g":"yes","h":"true"})"));
  EXPECT_EQ(*ParseYaml(""), Json::object());
}

TEST(ParseGpu, RejectsBadInput) {
  for (const char* bad : {
           "{", "[1,2]", "kind: Pod\nmetadata:\n  name: x\n", "metadata:\n  nmae: x\n",
           "metadata: [1, 2]\n", "spec:\n  uuid: [\n", "a: &anchor 1\n", "a: *alias\n",
           "a: |\n  block\n", "a:\n\t- x\n", "a: 1\n---\nb: 2\n", "- 1\n- 2\n",
           "a: 1\na: 2\n", "metadata:\n  name: x\n   extra: 1\n", "'unterminated: 1\n",
           "\"bad\\escape\": 1\n", "metadata:\n  generation: notanumber\n"}) {
    StatusOr<Gpu> g = ParseGpu(bad);
    EXPECT_FALSE(g.ok()) << "accepted:\n" << bad;
    if (!g.ok()) {
      EXPECT_TRUE(g.status().IsInvalid());
      EXPECT_EQ(g.status().message().find('\n'), std::string::npos) << g.status().message();
    }
  }
}

TEST(ParseGpu, DeepNestingIsRefusedNotACrash) {
  std::string deep;
  for (int i = 0; i < 5000; ++i) deep += std::string(i, ' ') + "k:\n";
  EXPECT_FALSE(ParseGpu(deep).ok());
  std::string flow(100000, '[');
  EXPECT_FALSE(ParseGpu("a: " + flow).ok());
}

// yaml-cpp 0.7 never returns from LoadAll on a node followed by a stray comma
// at document level, growing memory without end (found by fuzzing): such
// files are refused at once, naming the line.
TEST(ParseYaml, StrayCommaAfterTheDocumentIsRefusedNotAHang) {
  for (const char* bad : {"[],", "{},\n", "\"x\",", "[1],b", "{a: 1}, b\n",
                          "{\"kind\": \"Gpu\"},\n \"status\": {}}\n"}) {
    StatusOr<Json> y = ParseYaml(bad);
    ASSERT_FALSE(y.ok()) << "accepted:\n" << bad;
    EXPECT_TRUE(y.status().IsInvalid());
    EXPECT_NE(y.status().message().find("only one document"), std::string::npos)
        << y.status().message();
  }
}

// A file starting with NUL bytes is not read as UTF-32, and an escape that
// names no character is not turned into bytes that are not UTF-8 (both
// found by fuzzing: the YAML writer then threw).
TEST(ParseYaml, ControlCharactersAndImpossibleEscapesAreRefused) {
  const std::string nul_led("\0\0\0\x0c\0  \0\0\0\0\x0f", 12);
  for (const std::string& bad : {nul_led, std::string("a: b\x01\n"), std::string("a: \x7f\n"),
                                 std::string("a: \"\\U0C002020\"\n"), std::string("a: \"x\\_y\"\n"),
                                 std::string("\"k\\_\": 1\n"), std::string("\"k\\N\": 1\n")}) {
    StatusOr<Json> y = ParseYaml(bad);
    ASSERT_FALSE(y.ok()) << "accepted: " << bad;
    EXPECT_TRUE(y.status().IsInvalid());
  }
  // DEL, which a JSON file may hold raw, is written escaped and reads back
  // (found by fuzzing: the YAML form of such a GPU did not parse).
  const Json with_del = {{"type", std::string("Read\x7f")}, {"k\x7f", "v"}};
  StatusOr<Json> back = ParseYaml(ToYaml(with_del));
  ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << ToYaml(with_del);
  EXPECT_EQ(*back, with_del);
  // Brackets in values count towards ParseYaml's nesting bound; what ToYaml
  // writes always reads back (found by fuzzing: a name with 80 '[').
  const Json brackets = {{"name", "g-" + std::string(80, '[') + "592"},
                         {"message", "Xid 79 [bus] {lost}"},
                         {std::string(40, '{'), std::string(40, ']')}};
  const std::string brackets_yaml = ToYaml(brackets);
  StatusOr<Json> brackets_back = ParseYaml(brackets_yaml);
  ASSERT_TRUE(brackets_back.ok()) << brackets_back.status().message() << "\n" << brackets_yaml;
  EXPECT_EQ(*brackets_back, brackets);
  EXPECT_NE(brackets_yaml.find("message: Xid 79 [bus] {lost}\n"), std::string::npos) << brackets_yaml;
  StatusOr<Json> escaped = ParseYaml("a: \"tab\\there\\x01\"\r\n");
  ASSERT_TRUE(escaped.ok()) << escaped.status().message();
  EXPECT_EQ((*escaped)["a"], "tab\there\x01");
}

// Files come from anywhere: bytes that are not UTF-8 are refused naming the
// line, never an exception that ends devicectl (found by fuzzing).
TEST(ParseGpu, InvalidUtf8IsRefusedNotACrash) {
  for (const char* bad : {"metadata:\n  name: \xb6\n", "a: \xe2\x82\n", "a: '\xed\xa0\x80'\n",
                          "\xc0\xaf: x\n", "a: \xf4\x90\x80\x80\n", "kind: \xff\n"}) {
    StatusOr<Gpu> g = ParseGpu(bad);
    ASSERT_FALSE(g.ok()) << "accepted:\n" << bad;
    EXPECT_TRUE(g.status().IsInvalid());
    EXPECT_NE(g.status().message().find("not valid UTF-8"), std::string::npos) << g.status().message();
  }
  StatusOr<Json> ok = ParseYaml("name: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)["name"], "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

// What ToYaml writes, ParseYaml reads back, empty documents included ("{}",
// found by fuzzing); a document may be one flow collection over many lines.
TEST(Yaml, EmptyAndFlowDocumentsReadBack) {
  for (const Json& v : {Json::object(), Json::array()}) {
    StatusOr<Json> back = ParseYaml(ToYaml(v));
    ASSERT_TRUE(back.ok()) << ToYaml(v) << back.status().message();
    EXPECT_EQ(*back, v);
  }
  StatusOr<Json> flow = ParseYaml("# a comment\n{\"a\":\n  [1,\n   2]}\n");
  ASSERT_TRUE(flow.ok()) << flow.status().message();
  EXPECT_EQ((*flow)["a"], Json::array({"1", "2"}));  // plain scalars stay strings
  EXPECT_FALSE(ParseYaml("{\"a\": 1\n").ok());
  // Brackets inside a plain key are ordinary characters (found by fuzzing).
  StatusOr<Json> keys = ParseYaml("- t[pe: Ready\n  s{x: b]\n");
  ASSERT_TRUE(keys.ok()) << keys.status().message();
  EXPECT_EQ(*keys, Json::parse(R"([{"t[pe": "Ready", "s{x": "b]"}])"));
}

// YAML allows an implicit key of at most 1024 characters as written, and
// ToYaml's escapes can make a short key long: 200 "[" are written as 1200
// characters (found by fuzzing). Long keys go out as explicit "? key" entries
// wherever a key can stand, whatever value follows.
TEST(Yaml, KeysTooLongForOneLineReadBack) {
  const std::vector<std::string> keys = {
      std::string(1000, 'k'), std::string(1023, 'k'), std::string(1024, 'k'),
      std::string(1025, 'k'), "1" + std::string(1030, '0'), std::string(200, '['),
      std::string(300, '\x01'), "\xc3\xa9" + std::string(1000, 'e'), std::string(100000, 'k')};
  const std::vector<Json> values = {
      Json(nullptr), Json("v"), Json::object(), Json::array(),
      Json::object({{"inner", "x"}, {std::string(1100, 'i'), Json::array({"a", "b"})}}),
      Json::array({"a", Json::object({{"k", "v"}}), Json::array({"b"})})};
  for (const std::string& key : keys) {
    for (const Json& value : values) {
      Json doc = Json::object({{key, value}, {"next", "n"}});
      Json in_list = Json::array({doc, Json::object({{"first", "f"}, {key, value}})});
      Json nested = Json::object({{"outer", Json::object({{key, value}})}, {key, in_list}});
      for (const Json& v : {doc, in_list, nested}) {
        const std::string yaml = ToYaml(v);
        StatusOr<Json> back = ParseYaml(yaml);
        ASSERT_TRUE(back.ok()) << back.status().message() << "\n" << yaml.substr(0, 2000);
        EXPECT_EQ(*back, v) << yaml.substr(0, 2000);
      }
    }
  }
  // Short keys keep the implicit form.
  EXPECT_EQ(ToYaml(Json::object({{std::string(1000, 'k'), "v"}})), std::string(1000, 'k') + ": v\n");
  EXPECT_EQ(ToYaml(Json::object({{std::string(1001, 'k'), Json::array({"v"})}})),
            "? " + std::string(1001, 'k') + "\n:\n  - v\n");
}

// What a terminal or a strict YAML 1.1 reader (PyYAML, go-yaml v2) would
// act on: C1 controls and separators never appear raw in JSON or YAML, and
// strings a YAML 1.1 reader would type as something else are quoted. Both
// read back unchanged.
TEST(Yaml, EscapesUnsafeCodePointsAndQuotesWhatYaml11WouldType) {
  Json v = Json::object();
  v["csi"] = "a\xc2\x9b" "31mb";
  v["nel"] = "x\xc2\x85y";
  v["separator"] = "p\xe2\x80\xa8q";
  v["bom"] = "\xef\xbb\xbfz";
  v["hex"] = "0x1F";
  v["octal"] = "0o17";
  v["sexagesimal"] = "1:30";
  v["date"] = "2026-01-02";
  v["time"] = "2026-01-02T03:04:05Z";
  v["answer"] = "y";
  v["inf"] = ".inf";
  v["nan"] = ".NaN";
  v["merge"] = "<<";
  v["plain"] = "GPU-1";
  const std::string yaml = ToYaml(v);
  EXPECT_EQ(RawControls(yaml), "") << yaml;
  EXPECT_EQ(yaml.find("\xe2\x80\xa8"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("\xef\xbb\xbf"), std::string::npos) << yaml;
  for (const char* line : {"csi: \"a\\u009b31mb\"\n", "separator: \"p\\u2028q\"\n", "hex: \"0x1F\"\n",
                           "octal: \"0o17\"\n", "sexagesimal: \"1:30\"\n", "date: \"2026-01-02\"\n",
                           "time: \"2026-01-02T03:04:05Z\"\n", "answer: \"y\"\n", "inf: \".inf\"\n",
                           "nan: \".NaN\"\n", "merge: \"<<\"\n", "plain: GPU-1\n"})
    EXPECT_NE(yaml.find(line), std::string::npos) << line << " in\n" << yaml;
  StatusOr<Json> back = ParseYaml(yaml);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, v);
  const std::string json = FormatJson(v);
  EXPECT_EQ(RawControls(json), "") << json;
  EXPECT_NE(json.find("\"a\\u009b31mb\""), std::string::npos) << json;
  EXPECT_EQ(Json::parse(json), v);
}

TEST(Yaml, QuotesWhatPlainStyleWouldChange) {
  Json v = Json::object();
  v["num"] = "123";
  v["bool"] = "true";
  v["empty"] = "";
  v["colon"] = "a: b";
  v["hash"] = "a #b";
  v["dash"] = "-x";
  v["plain"] = "GPU-1";
  v["newline"] = "a\nb";
  v["... x"] = "--- y";
  v["tab"] = "a\tb";
  v["unicode"] = "\xc3\xa9t\xc3\xa9";
  v["list"] = Json::array({"x", Json::object({{"k", "v"}, {"k2", "v2"}})});
  v["emptymap"] = Json::object();
  ExpectGolden("quoting.yaml", ToYaml(v));
  StatusOr<Json> back = ParseYaml(ToYaml(v));
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(*back, v);
}

}  // namespace
}  // namespace deviceapi::cli
