// Losses on fixed tensors against values worked out by hand (closed forms in the comments; σ = sigmoid),
// their gradients through autograd, and a batch of random scores against the float64 python3-torch golden
// tests/assets/train/golden.json ("losses" section, make_golden.py).
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "train/losses.h"
#include "util/error.h"
#include "util/jsonl.h"

using namespace ecpo::train;

namespace {

double sig(double x) { return 1.0 / (1.0 + std::exp(-x)); }

torch::Tensor vec(std::vector<double> v, bool grad = false) {
  return torch::tensor(v, torch::kDouble).requires_grad_(grad);
}

// One pair: policy chosen −1, rejected −2; reference −1.5 both → ρ_c = 0.5, ρ_r = −0.5, Δ = 1.
struct OnePair : ::testing::Test {
  torch::Tensor pc = vec({-1.0}, true), pr = vec({-2.0}, true), rc = vec({-1.5}), rr = vec({-1.5});
  double run(PrefLoss t, double eps = 0.0) {
    DpoParams p;
    p.loss_type = t;
    p.beta = 0.1;
    p.label_smoothing = eps;
    PrefOutput o = dpo_loss(pc, pr, rc, rr, p);
    o.losses.sum().backward();
    EXPECT_NEAR(o.rewards_chosen.item<double>(), 0.05, 1e-12);   // β·ρ_c
    EXPECT_NEAR(o.rewards_rejected.item<double>(), -0.05, 1e-12);
    EXPECT_FALSE(o.rewards_chosen.requires_grad());
    return o.losses.item<double>();
  }
};

TEST_F(OnePair, SigmoidIsMinusLogSigmoidOfBetaDelta) {
  // L = −logσ(0.1) = ln(1 + e^−0.1) = 0.64439666…; ∂L/∂pol_c = −β·σ(−βΔ) = −0.1·σ(−0.1).
  EXPECT_NEAR(run(PrefLoss::sigmoid), std::log(1 + std::exp(-0.1)), 1e-12);
  EXPECT_NEAR(run(PrefLoss::sigmoid), 0.6443966600735709, 1e-12);
  pc.grad().zero_(), pr.grad().zero_();
  run(PrefLoss::sigmoid);
  EXPECT_NEAR(pc.grad().item<double>(), -0.1 * sig(-0.1), 1e-12);
  EXPECT_NEAR(pr.grad().item<double>(), 0.1 * sig(-0.1), 1e-12);
}

TEST_F(OnePair, SigmoidWithLabelSmoothingIsConservativeDpo) {
  // cDPO ε = 0.1: −0.9·logσ(0.1) − 0.1·logσ(−0.1) = 0.9·0.64439666 + 0.1·0.74439666 = 0.65439666.
  EXPECT_NEAR(run(PrefLoss::sigmoid, 0.1), 0.6543966600735709, 1e-12);
  // ∂/∂pol_c = −0.9·β·σ(−0.1) + 0.1·β·σ(0.1)
  EXPECT_NEAR(pc.grad().item<double>(), -0.9 * 0.1 * sig(-0.1) + 0.1 * 0.1 * sig(0.1), 1e-12);
}

TEST_F(OnePair, RobustDividesByOneMinusTwoEpsilon) {
  // [−0.9·logσ(0.1) + 0.1·logσ(−0.1)] / 0.8 = (0.57995699 − 0.07443967) / 0.8 = 0.63189666.
  EXPECT_NEAR(run(PrefLoss::robust, 0.1), 0.6318966600735709, 1e-12);
  EXPECT_NEAR(pc.grad().item<double>(), (-0.9 * 0.1 * sig(-0.1) - 0.1 * 0.1 * sig(0.1)) / 0.8, 1e-12);
  EXPECT_NEAR(pr.grad().item<double>(), -pc.grad().item<double>(), 1e-12);
  DpoParams p;
  p.loss_type = PrefLoss::robust;
  p.label_smoothing = 0.5;
  EXPECT_THROW(dpo_loss(pc, pr, rc, rr, p), ecpo::Error);
}

TEST_F(OnePair, HingeIsReluOfOneMinusBetaDelta) {
  EXPECT_NEAR(run(PrefLoss::hinge), 0.9, 1e-12);  // relu(1 − 0.1·1)
  EXPECT_NEAR(pc.grad().item<double>(), -0.1, 1e-12);
  EXPECT_NEAR(pr.grad().item<double>(), 0.1, 1e-12);
  auto far = vec({10.5}, true);  // ρ_c = 12, Δ = 12.5 → β·Δ > 1: zero loss, zero gradient
  DpoParams p;
  p.loss_type = PrefLoss::hinge;
  PrefOutput o = dpo_loss(far, pr, rc, rr, p);
  o.losses.sum().backward();
  EXPECT_EQ(o.losses.item<double>(), 0.0);
  EXPECT_EQ(far.grad().item<double>(), 0.0);
}

TEST_F(OnePair, IpoIsSquaredDistanceToOneOverTwoBeta) {
  EXPECT_NEAR(run(PrefLoss::ipo), 16.0, 1e-12);  // (1 − 1/(2·0.1))² = (1 − 5)²
  EXPECT_NEAR(pc.grad().item<double>(), -8.0, 1e-12);  // 2·(Δ − 5)
  EXPECT_NEAR(pr.grad().item<double>(), 8.0, 1e-12);
  EXPECT_TRUE(pref_loss_uses_average(PrefLoss::ipo));
  EXPECT_FALSE(pref_loss_uses_average(PrefLoss::sigmoid));
}

TEST(Losses, DpoEqualPolicyAndReferenceGivesLn2) {
  auto pc = vec({-3.0, -7.5, -1.25}, true), pr = vec({-4.0, -2.0, -9.0}, true);
  PrefOutput o = dpo_loss(pc, pr, pc.detach(), pr.detach(), DpoParams{});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(o.losses[i].item<double>(), std::log(2.0), 1e-12);
}

TEST(Losses, SimpoUsesGammaAndNoReference) {
  // h = β·(avg_c − avg_r) − γ = 2·1 − 0.5 = 1.5; L = −logσ(1.5) = 0.20141328; ∂L/∂avg_c = −β·σ(−h).
  auto c = vec({-1.0}, true), r = vec({-2.0}, true);
  SimpoParams p;
  p.beta = 2.0;
  p.gamma = 0.5;
  PrefOutput o = simpo_loss(c, r, p);
  o.losses.sum().backward();
  EXPECT_NEAR(o.losses.item<double>(), 0.2014132779827524, 1e-12);
  EXPECT_NEAR(c.grad().item<double>(), -2.0 * sig(-1.5), 1e-12);
  EXPECT_NEAR(r.grad().item<double>(), 2.0 * sig(-1.5), 1e-12);
  EXPECT_NEAR(o.rewards_chosen.item<double>(), -2.0, 1e-12);  // β·avg
}

TEST(Losses, KtoUsesTheDetachedClampedKlEstimate) {
  // ρ = [0.5, −0.5]; z = mean(−3 + 3.2, −3 + 3.4) = 0.3.
  // desirable: 1 − σ(0.1·(0.5 − 0.3)) = 1 − σ(0.02); undesirable: 1 − σ(0.1·(0.3 + 0.5)) = 1 − σ(0.08).
  auto pol = vec({-1.0, -2.0}, true), ref = vec({-1.5, -1.5});
  auto labels = torch::tensor({1, 0}, torch::kBool);
  auto klp = vec({-3.0, -3.0}, true), klr = vec({-3.2, -3.4});
  KtoOutput o = kto_loss(pol, ref, labels, klp, klr, KtoParams{});
  EXPECT_NEAR(o.kl, 0.3, 1e-12);
  EXPECT_NEAR(o.losses[0].item<double>(), 1 - sig(0.02), 1e-12);
  EXPECT_NEAR(o.losses[1].item<double>(), 1 - sig(0.08), 1e-12);
  o.losses.sum().backward();
  // ∂/∂pol_0 = −β·σ'(β(ρ−z)); ∂/∂pol_1 = −β·σ'(β(z−ρ)) · (−1) … both negative-sloped in their own direction
  EXPECT_NEAR(pol.grad()[0].item<double>(), -0.1 * sig(0.02) * (1 - sig(0.02)), 1e-12);
  EXPECT_NEAR(pol.grad()[1].item<double>(), 0.1 * sig(0.08) * (1 - sig(0.08)), 1e-12);
  EXPECT_FALSE(klp.grad().defined() && klp.grad().abs().sum().item<double>() > 0);  // z is detached
  // A negative KL estimate is clamped to 0; weights scale each side.
  KtoParams w;
  w.desirable_weight = 2.0;
  w.undesirable_weight = 0.5;
  KtoOutput n = kto_loss(pol.detach(), ref, labels, vec({-3.0, -3.0}), vec({-2.0, -2.0}), w);
  EXPECT_EQ(n.kl, 0.0);
  EXPECT_NEAR(n.losses[0].item<double>(), 2.0 * (1 - sig(0.05)), 1e-12);
  EXPECT_NEAR(n.losses[1].item<double>(), 0.5 * (1 - sig(0.05)), 1e-12);
}

TEST(Losses, NamesRoundTripAndUnknownNamesAreRefused) {
  for (const char* n : {"sigmoid", "ipo", "hinge", "robust"}) EXPECT_EQ(pref_loss_name(pref_loss_from_name(n)), n);
  try {
    pref_loss_from_name("sppo");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("loss_type"), std::string::npos);
  }
}

// Random scores, every loss, against the float64 python3-torch reference (same formulas written from TRL).
TEST(Losses, MatchPythonGolden) {
  const auto g = ecpo::read_json_file(std::string(ECPO_TEST_ASSETS) + "/train/golden.json")["losses"];
  auto t = [&](const char* k, bool grad = false) { return vec(g["inputs"][k].get<std::vector<double>>(), grad); };
  for (const auto& c : g["dpo"]) {
    auto pc = t("pol_c", true), pr = t("pol_r", true);
    DpoParams p;
    p.loss_type = pref_loss_from_name(c["loss_type"]);
    p.beta = c["beta"];
    p.label_smoothing = c["label_smoothing"];
    PrefOutput o = dpo_loss(pc, pr, t("ref_c"), t("ref_r"), p);
    o.losses.mean().backward();
    SCOPED_TRACE(c["loss_type"].get<std::string>());
    EXPECT_NEAR(o.losses.mean().item<double>(), c["loss"].get<double>(), 1e-10);
    auto gc = c["grad_pol_c"].get<std::vector<double>>();
    for (std::size_t i = 0; i < gc.size(); ++i) EXPECT_NEAR(pc.grad()[i].item<double>(), gc[i], 1e-10);
  }
  {
    const auto& c = g["simpo"];
    auto ac = t("avg_c", true), ar = t("avg_r", true);
    SimpoParams p{c["beta"], c["gamma"], c["label_smoothing"]};
    PrefOutput o = simpo_loss(ac, ar, p);
    o.losses.mean().backward();
    EXPECT_NEAR(o.losses.mean().item<double>(), c["loss"].get<double>(), 1e-10);
    auto gc = c["grad_avg_c"].get<std::vector<double>>();
    for (std::size_t i = 0; i < gc.size(); ++i) EXPECT_NEAR(ac.grad()[i].item<double>(), gc[i], 1e-10);
  }
  {
    const auto& c = g["kto"];
    auto pol = t("kto_pol", true);
    auto labels = torch::tensor(g["inputs"]["kto_label"].get<std::vector<int>>(), torch::kInt).to(torch::kBool);
    KtoParams p{c["beta"], c["desirable_weight"], c["undesirable_weight"]};
    KtoOutput o = kto_loss(pol, t("kto_ref"), labels, t("kl_pol"), t("kl_ref"), p);
    o.losses.mean().backward();
    EXPECT_NEAR(o.kl, c["kl"].get<double>(), 1e-12);
    EXPECT_NEAR(o.losses.mean().item<double>(), c["loss"].get<double>(), 1e-10);
    auto gp = c["grad_pol"].get<std::vector<double>>();
    for (std::size_t i = 0; i < gp.size(); ++i) EXPECT_NEAR(pol.grad()[i].item<double>(), gp[i], 1e-10);
  }
}

}  // namespace
