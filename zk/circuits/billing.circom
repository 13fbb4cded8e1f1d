pragma circom 2.1.0;

// Billing claim range check (ccnet task type "billing", issue 6; seed 000/001 "fuel-based
// billing").
//
// Proves amount = fuel * rate, with fuel and rate unsigned 64-bit integers (fuel units,
// planck per fuel unit) and amount <= cap (planck, < 2^128): the product cannot wrap
// around the field, so the claim holds over the integers, not only modulo p.
//
// Public signals, in snarkjs order: [amount, fuel, rate, cap].

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";

template Billing() {
    signal input fuel;     // public: fuel units used (u64)
    signal input rate;     // public: planck per fuel unit (u64)
    signal input cap;      // public: the most the claim may be, planck (u128)
    signal output amount;  // public: fuel * rate, planck

    component fuelBits = Num2Bits(64);
    fuelBits.in <== fuel;
    component rateBits = Num2Bits(64);
    rateBits.in <== rate;
    component capBits = Num2Bits(128);
    capBits.in <== cap;

    amount <== fuel * rate;

    // amount < 2^128 follows from the two 64-bit checks; LessEqThan needs both sides
    // within 128 bits, which the checks above give.
    component withinCap = LessEqThan(128);
    withinCap.in[0] <== amount;
    withinCap.in[1] <== cap;
    withinCap.out === 1;
}

component main {public [fuel, rate, cap]} = Billing();
