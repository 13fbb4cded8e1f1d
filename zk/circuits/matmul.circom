pragma circom 2.1.0;

// Small fixed-size matrix multiply (ccnet task type "matmul", issue 6).
//
// The worker proves C = A x B for N x N matrices of unsigned 32-bit integers, without
// publishing them: the public signals are commitments. The requester, who posted A and
// B, recomputes inputCommit; it checks outputCommit against the C it received. Entries
// are range-checked so no sum of products wraps around the field: the product holds
// over the integers.
//
//   inputCommit  = Poseidon(Poseidon(A row-major), Poseidon(B row-major))
//   outputCommit = Poseidon(C row-major)
//
// Public signals, in snarkjs order: [inputCommit, outputCommit, task].

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";

template MatMul(N) {
    signal input a[N][N];       // private: left matrix, u32 entries
    signal input b[N][N];       // private: right matrix, u32 entries
    signal input task;          // public: the task id the proof is bound to
    signal output inputCommit;  // public
    signal output outputCommit; // public

    component aBits[N][N];
    component bBits[N][N];
    component hashA = Poseidon(N * N);
    component hashB = Poseidon(N * N);
    component hashC = Poseidon(N * N);
    signal products[N][N][N];

    for (var i = 0; i < N; i++) {
        for (var j = 0; j < N; j++) {
            aBits[i][j] = Num2Bits(32);
            aBits[i][j].in <== a[i][j];
            bBits[i][j] = Num2Bits(32);
            bBits[i][j].in <== b[i][j];
            hashA.inputs[i * N + j] <== a[i][j];
            hashB.inputs[i * N + j] <== b[i][j];
        }
    }
    for (var i = 0; i < N; i++) {
        for (var j = 0; j < N; j++) {
            var sum = 0;
            for (var k = 0; k < N; k++) {
                products[i][j][k] <== a[i][k] * b[k][j];
                sum += products[i][j][k];
            }
            hashC.inputs[i * N + j] <== sum;
        }
    }

    component hashIn = Poseidon(2);
    hashIn.inputs[0] <== hashA.out;
    hashIn.inputs[1] <== hashB.out;
    inputCommit <== hashIn.out;
    outputCommit <== hashC.out;

    signal taskSquared;  // pins the otherwise unused public input (see poseidon_commit)
    taskSquared <== task * task;
}

component main {public [task]} = MatMul(3);
