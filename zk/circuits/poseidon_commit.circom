pragma circom 2.1.0;

// Poseidon hash commitment (ccnet task type "poseidon-commit", issue 6).
//
// The worker proves it knows N input chunks (field elements of BN254's scalar field)
// whose circomlib Poseidon hash is `digest`, for the task `task`. The requester, who
// holds the input, computes the same digest and checks it against the proof's public
// signals; a proof made for another task does not verify for this one.
//
// Public signals, in snarkjs order: [digest, task].

include "circomlib/circuits/poseidon.circom";

template PoseidonCommit(N) {
    signal input chunks[N];  // private: the input, as N field elements
    signal input task;       // public: the task id the proof is bound to
    signal output digest;    // public: Poseidon(chunks)

    component hash = Poseidon(N);
    for (var i = 0; i < N; i++) {
        hash.inputs[i] <== chunks[i];
    }
    digest <== hash.out;

    // A public input that no constraint uses could be swapped without breaking the
    // proof under some provers' optimisations; one quadratic constraint pins it.
    signal taskSquared;
    taskSquared <== task * task;
}

component main {public [task]} = PoseidonCommit(8);
