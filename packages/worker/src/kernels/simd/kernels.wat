;; The wasm backend's own SIMD kernels (WebAssembly SIMD128), for the machines where the native
;; addon (oneDNN, native/*.h) is not built. The module imports the tfjs-backend-wasm heap and works
;; in place on its tensors: every pointer is a byte offset into that heap, every tensor float32
;; [rows × C] row-major with C a multiple of 4 (kernels/simd/simd-kernels.ts checks; other shapes
;; take the JS loops). The arithmetic is the JS kernels' (kernels/batch-norm-relu.ts), operation for
;; operation and in the same order per channel, so results are bit for bit theirs: sums in float64
;; over rows, element-wise passes in float32. Assembled by tools/build-wasm.ts into
;; simd-wasm.generated.ts (`npm run build:wasm`).
(module
  (import "env" "memory" (memory 1))

  ;; Zeroes `n` float64 at `p`.
  (func $zero64 (param $p i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (f64.store (local.get $p) (f64.const 0))
        (local.set $p (i32.add (local.get $p) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  ;; BatchNorm forward, statistics: s[c] += Σ_r (x[r,c] − shift[c]), q[c] += Σ_r (x[r,c] − shift[c])²
  ;; in float64, row by row (the caller zeroes s and q, and may call it a block of rows at a time).
  ;; shift, s, q: float64 [C].
  (func (export "bnSums")
    (param $x i32) (param $rows i32) (param $C i32) (param $shift i32) (param $s i32) (param $q i32)
    (local $j i32) (local $C8 i32) (local $p i32) (local $v v128) (local $lo v128) (local $hi v128)
    (local.set $C8 (i32.shl (local.get $C) (i32.const 3)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $colsDone
          (loop $col
            (br_if $colsDone (i32.ge_u (local.get $j) (local.get $C8)))
            (local.set $v (v128.load (local.get $x)))
            (local.set $p (i32.add (local.get $shift) (local.get $j)))
            (local.set $lo (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (v128.load (local.get $p))))
            (local.set $hi
              (f64x2.sub
                (f64x2.promote_low_f32x4
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))
                (v128.load offset=16 (local.get $p))))
            (local.set $p (i32.add (local.get $s) (local.get $j)))
            (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (local.get $lo)))
            (v128.store offset=16 (local.get $p) (f64x2.add (v128.load offset=16 (local.get $p)) (local.get $hi)))
            (local.set $p (i32.add (local.get $q) (local.get $j)))
            (v128.store (local.get $p)
              (f64x2.add (v128.load (local.get $p)) (f64x2.mul (local.get $lo) (local.get $lo))))
            (v128.store offset=16 (local.get $p)
              (f64x2.add (v128.load offset=16 (local.get $p)) (f64x2.mul (local.get $hi) (local.get $hi))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 32)))
            (br $col)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; BatchNorm forward, element-wise: y = ((x − mean)·scale) + beta, then max(y, 0) when relu; float32
  ;; [C] mean, scale, beta. x is given as channel parts (kernels/batch-norm-parts.ts; one part for the
  ;; plain kernel): `parts` entries of 8 bytes at `tab`, each the part's pointer (advanced here, a row
  ;; at a time) and its width in bytes. Each row of y is written whole, every part in turn.
  (func (export "bnApply")
    (param $tab i32) (param $parts i32) (param $y i32) (param $mean i32) (param $scale i32)
    (param $beta i32) (param $rows i32) (param $C i32) (param $relu i32)
    (local $j i32) (local $end i32) (local $e i32) (local $tabEnd i32) (local $x i32) (local $v v128)
    (local.set $tabEnd (i32.add (local.get $tab) (i32.shl (local.get $parts) (i32.const 3))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (local.set $e (local.get $tab))
        (block $partsDone
          (loop $part
            (br_if $partsDone (i32.ge_u (local.get $e) (local.get $tabEnd)))
            (local.set $x (i32.load (local.get $e)))
            (local.set $end (i32.add (local.get $j) (i32.load offset=4 (local.get $e))))
            (block $colsDone
              (loop $col
                (br_if $colsDone (i32.ge_u (local.get $j) (local.get $end)))
                (local.set $v
                  (f32x4.add
                    (f32x4.mul
                      (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mean) (local.get $j))))
                      (v128.load (i32.add (local.get $scale) (local.get $j))))
                    (v128.load (i32.add (local.get $beta) (local.get $j)))))
                (if (local.get $relu)
                  (then (local.set $v (f32x4.max (local.get $v) (v128.const f32x4 0 0 0 0)))))
                (v128.store (i32.add (local.get $y) (local.get $j)) (local.get $v))
                (local.set $x (i32.add (local.get $x) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $col)))
            (i32.store (local.get $e) (local.get $x))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br $part)))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; dy·[y > 0] when relu, else dy: the gradient through the ReLU (a product, as in the JS kernel).
  (func $masked (param $dy v128) (param $y v128) (param $relu i32) (result v128)
    (if (result v128) (local.get $relu)
      (then
        (f32x4.mul (local.get $dy)
          (v128.and (f32x4.gt (local.get $y) (v128.const f32x4 0 0 0 0)) (v128.const f32x4 1 1 1 1))))
      (else (local.get $dy))))

  ;; BatchNorm backward, sums: sb[c] += Σ_r d, sg[c] += Σ_r d·(x − mu[c]) in float64, d the masked dy,
  ;; row by row (the caller zeroes sb and sg); mu float32 [C], sb and sg float64 [C]. x as channel
  ;; parts, as bnApply takes it: dy's and y's rows are read whole, every part in turn.
  (func (export "bnGradSums")
    (param $tab i32) (param $parts i32) (param $dy i32) (param $y i32) (param $mu i32) (param $rows i32)
    (param $C i32) (param $relu i32) (param $sb i32) (param $sg i32)
    (local $j i32) (local $end i32) (local $e i32) (local $tabEnd i32) (local $x i32)
    (local $p i32) (local $d v128) (local $xv v128) (local $m v128)
    (local.set $tabEnd (i32.add (local.get $tab) (i32.shl (local.get $parts) (i32.const 3))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (local.set $e (local.get $tab))
        (block $partsDone
          (loop $part
            (br_if $partsDone (i32.ge_u (local.get $e) (local.get $tabEnd)))
            (local.set $x (i32.load (local.get $e)))
            (local.set $end (i32.add (local.get $j) (i32.load offset=4 (local.get $e))))
            (block $colsDone
              (loop $col
                (br_if $colsDone (i32.ge_u (local.get $j) (local.get $end)))
                (local.set $d
                  (call $masked
                    (v128.load (i32.add (local.get $dy) (local.get $j)))
                    (v128.load (i32.add (local.get $y) (local.get $j)))
                    (local.get $relu)))
                (local.set $xv (v128.load (local.get $x)))
                (local.set $m (v128.load (i32.add (local.get $mu) (local.get $j))))
                (local.set $p (i32.add (local.get $sb) (i32.shl (local.get $j) (i32.const 1))))
                (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (f64x2.promote_low_f32x4 (local.get $d))))
                (v128.store offset=16 (local.get $p)
                  (f64x2.add (v128.load offset=16 (local.get $p))
                    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d)))))
                (local.set $p (i32.add (local.get $sg) (i32.shl (local.get $j) (i32.const 1))))
                (v128.store (local.get $p)
                  (f64x2.add (v128.load (local.get $p))
                    (f64x2.mul (f64x2.promote_low_f32x4 (local.get $d))
                      (f64x2.sub (f64x2.promote_low_f32x4 (local.get $xv)) (f64x2.promote_low_f32x4 (local.get $m))))))
                (local.set $d (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d)))
                (local.set $xv (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $xv) (local.get $xv)))
                (local.set $m (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m)))
                (v128.store offset=16 (local.get $p)
                  (f64x2.add (v128.load offset=16 (local.get $p))
                    (f64x2.mul (f64x2.promote_low_f32x4 (local.get $d))
                      (f64x2.sub (f64x2.promote_low_f32x4 (local.get $xv)) (f64x2.promote_low_f32x4 (local.get $m))))))
                (local.set $x (i32.add (local.get $x) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $col)))
            (i32.store (local.get $e) (local.get $x))
            (local.set $e (i32.add (local.get $e) (i32.const 8)))
            (br $part)))
        (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; BatchNorm backward, element-wise: dx = k·d + (a·(x − mu) + t) in float32, d the masked dy, plus
  ;; acc[r,c] where a part has one; k, a, t, mu float32 [C]. The parts in `parts` entries of 16 bytes
  ;; at `tab`: the part's x, its acc (0 for none) and its dx (all three advanced here, a row at a
  ;; time), and its width in bytes. dy's and y's rows are read whole, every part in turn.
  (func (export "bnGradApply")
    (param $tab i32) (param $parts i32) (param $dy i32) (param $y i32) (param $mu i32) (param $k i32)
    (param $a i32) (param $t i32) (param $rows i32) (param $C i32) (param $relu i32)
    (local $j i32) (local $end i32) (local $e i32) (local $tabEnd i32) (local $x i32) (local $acc i32)
    (local $dx i32) (local $v v128)
    (local.set $tabEnd (i32.add (local.get $tab) (i32.shl (local.get $parts) (i32.const 4))))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (local.set $e (local.get $tab))
        (block $partsDone
          (loop $part
            (br_if $partsDone (i32.ge_u (local.get $e) (local.get $tabEnd)))
            (local.set $x (i32.load (local.get $e)))
            (local.set $acc (i32.load offset=4 (local.get $e)))
            (local.set $dx (i32.load offset=8 (local.get $e)))
            (local.set $end (i32.add (local.get $j) (i32.load offset=12 (local.get $e))))
            (block $colsDone
              (loop $col
                (br_if $colsDone (i32.ge_u (local.get $j) (local.get $end)))
                (local.set $v
                  (f32x4.add
                    (f32x4.mul (v128.load (i32.add (local.get $k) (local.get $j)))
                      (call $masked
                        (v128.load (i32.add (local.get $dy) (local.get $j)))
                        (v128.load (i32.add (local.get $y) (local.get $j)))
                        (local.get $relu)))
                    (f32x4.add
                      (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $j)))
                        (f32x4.sub (v128.load (local.get $x)) (v128.load (i32.add (local.get $mu) (local.get $j)))))
                      (v128.load (i32.add (local.get $t) (local.get $j))))))
                (if (local.get $acc)
                  (then
                    (local.set $v (f32x4.add (local.get $v) (v128.load (local.get $acc))))
                    (local.set $acc (i32.add (local.get $acc) (i32.const 16)))))
                (v128.store (local.get $dx) (local.get $v))
                (local.set $x (i32.add (local.get $x) (i32.const 16)))
                (local.set $dx (i32.add (local.get $dx) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 16)))
                (br $col)))
            (i32.store (local.get $e) (local.get $x))
            (i32.store offset=4 (local.get $e) (local.get $acc))
            (i32.store offset=8 (local.get $e) (local.get $dx))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (br $part)))
        (local.set $dy (i32.add (local.get $dy) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $y (i32.add (local.get $y) (i32.shl (local.get $C) (i32.const 2))))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; Copies `rows` rows of `n` bytes (a multiple of 4) from src to dst, the rows `srcStride` and
  ;; `dstStride` bytes apart: one part of a split or a concat along the last axis.
  (func (export "copyRows")
    (param $src i32) (param $srcStride i32) (param $dst i32) (param $dstStride i32) (param $n i32) (param $rows i32)
    (local $i i32) (local $n16 i32)
    (local.set $n16 (i32.and (local.get $n) (i32.const -16)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $i (i32.const 0))
        (block $vectorsDone
          (loop $vector
            (br_if $vectorsDone (i32.ge_u (local.get $i) (local.get $n16)))
            (v128.store (i32.add (local.get $dst) (local.get $i)) (v128.load (i32.add (local.get $src) (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $vector)))
        (block $wordsDone
          (loop $word
            (br_if $wordsDone (i32.ge_u (local.get $i) (local.get $n)))
            (i32.store (i32.add (local.get $dst) (local.get $i)) (i32.load (i32.add (local.get $src) (local.get $i))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $word)))
        (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
        (local.set $dst (i32.add (local.get $dst) (local.get $dstStride)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))

  ;; Column sums of x [rows × C] (any C) in float64: s[c] = Σ_r x[r,c], s float64 [C] (a bias
  ;; gradient; native/reduce.h's channelSum, in the same order).
  (func (export "colSums") (param $x i32) (param $rows i32) (param $C i32) (param $s i32)
    (local $j i32) (local $Cv i32) (local $C4 i32) (local $p i32) (local $v v128)
    (call $zero64 (local.get $s) (local.get $C))
    (local.set $C4 (i32.shl (local.get $C) (i32.const 2)))
    (local.set $Cv (i32.and (local.get $C4) (i32.const -16)))
    (block $rowsDone
      (loop $row
        (br_if $rowsDone (i32.eqz (local.get $rows)))
        (local.set $j (i32.const 0))
        (block $vectorsDone
          (loop $vector
            (br_if $vectorsDone (i32.ge_u (local.get $j) (local.get $Cv)))
            (local.set $v (v128.load (i32.add (local.get $x) (local.get $j))))
            (local.set $p (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 1))))
            (v128.store (local.get $p) (f64x2.add (v128.load (local.get $p)) (f64x2.promote_low_f32x4 (local.get $v))))
            (v128.store offset=16 (local.get $p)
              (f64x2.add (v128.load offset=16 (local.get $p))
                (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $vector)))
        (block $scalarsDone
          (loop $scalar
            (br_if $scalarsDone (i32.ge_u (local.get $j) (local.get $C4)))
            (local.set $p (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 1))))
            (f64.store (local.get $p)
              (f64.add (f64.load (local.get $p)) (f64.promote_f32 (f32.load (i32.add (local.get $x) (local.get $j))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (br $scalar)))
        (local.set $x (i32.add (local.get $x) (local.get $C4)))
        (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
        (br $row))))
)
